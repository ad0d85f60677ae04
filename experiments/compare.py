r"""Trains several fixed architectures with the same budget and seeds.

  python -m experiments.compare --gin_file=gin/nas/ptb_cpu.gin \
      --arc=lstm --arc=paper_nas_cell --arc_file=runs/ptb/best.json \
      --num_random=1 --seeds=0,1 --output_dir=runs/ptb-compare

Every architecture is trained from scratch by the task's final training
(test set included) with each seed. Random architectures are drawn uniformly
from the task's search space with `--random_seed`. Prints a Markdown table
(mean and standard deviation over seeds) and, as its last line, a JSON
object with every result; writes the same to D/compare.json atomically after
each run, and skips runs already there when called again (resumable; an
ENAS final training killed midway also resumes from its last epoch, kept in
its own D/<name>-seed<k>/).
"""

import json
import os
import statistics

from absl import app
from absl import flags

from experiments import cli

cli.import_tensorflow_quietly()

from controller import strategy  # noqa: E402

FLAGS = flags.FLAGS
cli.define_gin_flags()
cli.define_arc_flags("train", multi=True)
flags.DEFINE_integer("num_random", 0, "uniformly random architectures to add.")
flags.DEFINE_integer("random_seed", 1234, "seed of the random architectures.")
flags.DEFINE_list("seeds", ["0", "1"], "training seeds.")
flags.DEFINE_string("output_dir", None, "where compare.json goes.")

_SCORES = ("test_accuracy", "valid_accuracy", "test_ppl", "valid_ppl")


def _candidates(task):
  out = [(text, text) for text in FLAGS.arc]
  for path in FLAGS.arc_file:
    out.append((f"best of {path}", cli.arc_text(None, path)))
  randoms = strategy.RandomSearch(task.space, seed=FLAGS.random_seed)
  for i, sample in enumerate(randoms.ask(FLAGS.num_random)):
    out.append((f"random {i}", sample.arc.to_string()))
  return out


def _finished(path):
  """The results already in compare.json (none if there is no file)."""
  if not os.path.exists(path):
    return []
  try:
    with open(path) as f:
      results = json.load(f)["results"]
    if not all(isinstance(r, dict) and {"name", "seed", "status"} <= set(r)
               for r in results):
      raise ValueError("a result lacks name, seed or status")
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise cli.UsageError(f"cannot resume from {path} ({e}); move it away to "
                         "start the comparison again") from None
  return results


def _table(results):
  names = list(dict.fromkeys(r["name"] for r in results))
  keys = [k for k in ("params",) + _SCORES
          if any(r.get(k) is not None for r in results)]
  lines = ["| architecture | " + " | ".join(keys) + " | seeds |",
           "|---" * (len(keys) + 2) + "|"]
  for name in names:
    rows = [r for r in results if r["name"] == name and r["status"] == "ok"]
    cells = []
    for key in keys:
      values = [r[key] for r in rows if r.get(key) is not None]
      if not values:
        cells.append("-")
      elif key == "params":
        cells.append(f"{values[0]:,}")
      elif len(values) == 1:
        cells.append(f"{values[0]:.4f}")
      else:
        cells.append(f"{statistics.mean(values):.4f} ± "
                     f"{statistics.stdev(values):.4f}")
    seeds = ",".join(str(r["seed"]) for r in rows)
    lines.append(f"| {name} | " + " | ".join(cells) + f" | {seeds} |")
  return "\n".join(lines)


def main(argv):
  del argv
  cli.print_devices()
  with cli.user_errors():
    cli.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings)
    if not FLAGS.output_dir:
      raise cli.UsageError("pass --output_dir")
    from runner import run_dir  # pylint: disable=g-import-not-at-top
    from runner import tasks  # pylint: disable=g-import-not-at-top
    from runner import tensorboard  # pylint: disable=g-import-not-at-top
    task = tasks.make_task()
    candidates = [(name, task.parse(text)) for name, text in _candidates(task)]
    if not candidates:
      raise cli.UsageError("pass --arc, --arc_file or --num_random")
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    path = os.path.join(FLAGS.output_dir, "compare.json")
    results = _finished(path)
    done = {(r["name"], r["seed"]) for r in results}
    for name, arc in candidates:
      for seed in (int(s) for s in FLAGS.seeds):
        if (name, seed) in done:
          continue
        run_path = os.path.join(
            FLAGS.output_dir, f"{name.replace(' ', '_').replace('/', '_')}"
            f"-seed{seed}")
        os.makedirs(run_path, exist_ok=True)
        record = tensorboard.evaluate_logged(task, arc, seed, run_path, name=name)
        record = dict(record, name=name, arc=str(arc), seed=seed)
        results.append(record)
        run_dir.atomic_write_json(path, {"results": results})
        print(f"{name} seed {seed}: " + ", ".join(
            f"{k} {record[k]:.4f}" for k in _SCORES
            if record.get(k) is not None) + f" ({record.get('seconds', 0):.0f}s)",
              flush=True)
    print(_table(results))
    print(json.dumps({"results": results}))


if __name__ == "__main__":
  app.run(main)
