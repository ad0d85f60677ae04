r"""Reproduces one of the papers' tables, with random controls and published reproductions.

  python -m experiments.reproduce --table=enas_ptb --scale=cpu \
      --output_dir=runs/reproduce [--seeds=3] [--data_dir=DIR] [--systems=a,b]
  python -m experiments.reproduce --table=params --output_dir=runs/reproduce
  python -m experiments.reproduce --write_results --output_dir=runs/reproduce

Tables (`experiments.reproduce.tables`): nas_cifar10, nas_ptb, enas_cifar10,
enas_ptb, search_cost, params, ranking. Scales: ``paper`` (the papers'
settings, for GPUs: prints the expected device-hours and needs --yes),
``cpu`` (a reduced budget for 2 CPU cores; the table says exactly what was
reduced; image tables use Fashion-MNIST unless --data_dir holds CIFAR-10),
``smoke`` (tiny budgets: checks the plumbing in minutes, numbers meaningless).

Writes ``<output_dir>/<table>/<scale>/``: ``cells/<system>-seed<k>/result.json``
(one per finished cell, atomic), ``table.json``, ``table.md`` and a plot; the
searches go to ``<output_dir>/searches/<scale>/``, shared by every row of
every table that runs the same one (same id, gin and seed).
Rerunning the command skips finished cells and resumes an interrupted search
through the search's own resume (an interrupted retraining starts again).
--write_results regenerates the top-level RESULTS.md from every table under
--output_dir.
"""

import os
import sys
import time

from absl import app
from absl import flags

from experiments import cli

cli.import_tensorflow_quietly()

from child.atomic_files import atomic_write_bytes, atomic_write_json  # noqa: E402
from experiments.reproduce import cells as cells_lib  # noqa: E402
from experiments.reproduce import results as results_lib  # noqa: E402
from experiments.reproduce import tables as tables_lib  # noqa: E402
from runner.reproduce import plots  # noqa: E402
from runner.reproduce import render  # noqa: E402
from runner.reproduce import spec  # noqa: E402
from runner.reproduce import table as table_lib  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("table", None, f"one of {', '.join(tables_lib.TABLES)}.")
flags.DEFINE_enum("scale", "cpu", list(spec.SCALES), "paper, cpu or smoke.")
flags.DEFINE_string("output_dir", "runs/reproduce", "root of the tables (<root>/<table>/<scale>).")
flags.DEFINE_integer("seeds", None, "number of seeds (0 .. N-1); default: the table's for the scale.")
flags.DEFINE_string("data_dir", None, "CIFAR-10 (image tables) or PTB directory.")
flags.DEFINE_list("systems", [], "run only these rows (names or ids).")
flags.DEFINE_bool("yes", False, "run a paper-scale table (GPU hours).")
flags.DEFINE_bool("write_results", False, "regenerate RESULTS.md from every table under --output_dir.")
flags.DEFINE_string("results_file", os.path.join(cli._REPO_ROOT, "RESULTS.md"),  # pylint: disable=protected-access
                    "where --write_results writes.")


def _command(table: str, scale: str, seeds: int) -> str:
  parts = [f"python -m experiments.reproduce --table={table} --scale={scale} --seeds={seeds}",
           f"--output_dir={FLAGS.output_dir}"]
  if FLAGS.data_dir:
    parts.append(f"--data_dir={FLAGS.data_dir}")
  if FLAGS.systems:
    parts.append(f"--systems={','.join(FLAGS.systems)}")
  return " ".join(parts)


def _plan(table: spec.TableSpec, scale: str, cells) -> None:
  """Prints what will run and what it costs; paper scale needs --yes."""
  pending = [c for c in cells if table_lib.load_result(_table_dir(table.name, scale), c) is None]
  systems = [c.system for c in pending if c.arch is None]
  print(f"{table.name} at {scale} scale: {len(cells)} cells, {len(pending)} to run", flush=True)
  print(f"budget: {table.reductions.get(scale, '')}", flush=True)
  if scale == "paper":
    hours = sum(s.paper_device_hours for s in systems)
    print(f"expected device-hours: about {hours:,.0f} GPU hours (rough: the papers' search times where "
          "they give one, else epochs x an assumed GPU epoch time)", flush=True)
    if hours and not FLAGS.yes:
      raise cli.UsageError(f"--scale=paper needs about {hours:,.0f} GPU hours; pass --yes to run it")
  elif scale == "cpu":
    minutes = sum(s.cpu_minutes for s in systems)
    print(f"expected time: about {minutes:.0f} min on an idle 2-core machine", flush=True)


def _table_dir(name: str, scale: str) -> str:
  return os.path.join(FLAGS.output_dir, name, scale)


def run_table(name: str, scale: str) -> dict:
  try:
    table = tables_lib.get(name)
  except KeyError:
    raise cli.UsageError(f"unknown --table {name!r} (use one of {', '.join(tables_lib.TABLES)})") from None
  num_seeds = FLAGS.seeds if FLAGS.seeds is not None else table.seeds[scale]
  if num_seeds < 1:
    raise cli.UsageError("--seeds must be at least 1")
  seeds = list(range(num_seeds))
  num_archs = table.ranking_archs.get(scale, 0)
  try:
    cells = table_lib.cells_of(table, seeds, num_archs, FLAGS.systems)
  except KeyError as e:
    raise cli.UsageError(f"--systems: no row {e.args[0]} in {name} "
                         f"(rows: {', '.join(s.id for s in table.systems)})") from None
  directory = _table_dir(name, scale)
  _plan(table, scale, cells)
  runner = cells_lib.CellRunner(table, scale, directory, FLAGS.data_dir, num_archs,
                                search_root=os.path.join(FLAGS.output_dir, "searches", scale))
  results = table_lib.run_cells(cells, directory, runner)
  data = render.build(table, scale, seeds, results,
                      dataset=cells_lib.dataset_note(table, scale, FLAGS.data_dir),
                      date=time.strftime("%Y-%m-%d", time.gmtime()),
                      reproduce_command=_command(name, scale, num_seeds))
  text = render.markdown(data)
  atomic_write_json(os.path.join(directory, "table.json"), data)
  atomic_write_bytes(os.path.join(directory, "table.md"), text.encode())
  picture = plots.plot(data, directory)
  print("")
  print(text)
  print(f"written: {os.path.join(directory, 'table.md')}, table.json" + (f", {picture}" if picture else ""))
  return data


def main(argv):
  del argv
  with cli.user_errors():
    if not FLAGS.table and not FLAGS.write_results:
      raise cli.UsageError(f"pass --table (one of {', '.join(tables_lib.TABLES)}) or --write_results")
    if FLAGS.table:
      run_table(FLAGS.table, FLAGS.scale)
    if FLAGS.write_results:
      results_lib.write(FLAGS.output_dir, FLAGS.results_file)
      print(f"written: {FLAGS.results_file}")
  sys.stdout.flush()


if __name__ == "__main__":
  app.run(main)
