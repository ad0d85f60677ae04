"""How one cell of a reproduction table runs, in this process.

A search runs through `experiments.cli.run_search` (the binary
``experiments.search`` in-process) in
``<search_root>/<search id>-<gin digest>-seed<k>``; every row of every table
naming the same search with the same gin shares that run (e.g. ENAS micro,
ENAS micro + cutout, the search-cost and ranking tables' micro search). An
interrupted search is resumed by the search's own resume;
a finished one is marked by ``<search id>-seed<k>.json`` beside its directory
and never run again. A retraining is the task's final training
(``experiments.train_final`` in-process) in the cell's ``final/``; a count
is ``experiments.count_params``'s.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import resource
import shlex
import time
from typing import Any, Callable

from child.atomic_files import atomic_write_json
from controller import strategy as strategy_lib
from experiments import cli
from runner import run_dir as run_dir_lib
from runner.reproduce import spec as spec_lib
from runner.reproduce import table as table_lib

SCORE_KEYS = ("valid_accuracy", "valid_ppl")
RETRAINED_KEYS = ("status", "test_accuracy", "valid_accuracy", "test_ppl", "valid_ppl", "params",
                  "params_without_aux", "seconds", "error")
PARAMS_SHAPE = (32, 32, 3)
RANKING_SEED = 1234


def data_bindings(stage: spec_lib.Stage, scale: str, data_dir: str | None) -> tuple[str, ...]:
  """Where `stage` reads its data: --data_dir, and CIFAR-10 for image stages
  at cpu scale when a directory is given (Fashion-MNIST otherwise)."""
  if not data_dir or scale == "smoke":
    return ()
  bindings = (f"{stage.data}.data_dir = {data_dir!r}",)
  if stage.kind == "image":
    bindings = (f"{stage.data}.dataset = 'cifar10'",) + bindings
  return bindings


def dataset_note(table: spec_lib.TableSpec, scale: str, data_dir: str | None) -> str:
  """The data set, as the table's title names it."""
  if scale == "smoke":
    return ("digits" if table.image_data else "Penn Treebank") + ", smoke budget (numbers meaningless)"
  if table.kind == "params":
    return "no data"
  if not table.image_data:
    return "Penn Treebank"
  if scale == "cpu" and not data_dir:
    return "Fashion-MNIST (CIFAR-10 needs --data_dir)"
  return "CIFAR-10"


def gin_digest(gin: spec_lib.Gin, extra: tuple[str, ...]) -> str:
  """Eight hex digits naming a search's configuration: the gin files' text
  and the bindings, so tables share a search only when it is the same one."""
  digest = hashlib.sha256()
  for path in gin.files:
    digest.update(path.encode())
    with open(os.path.join(cli._REPO_ROOT, path) if not os.path.isabs(path) else path, "rb") as f:  # pylint: disable=protected-access
      digest.update(f.read())
  for binding in gin.bindings + extra:
    digest.update(b"\0" + binding.encode())
  return digest.hexdigest()[:8]


def _quote(text: str) -> str:
  """Shell quoting that keeps gin's single-quoted strings readable."""
  if "'" in text and not any(c in text for c in '"$`\\!'):
    return f'"{text}"'
  return shlex.quote(text)


def command(binary: str, gin: spec_lib.Gin, extra: tuple[str, ...], *args: str) -> str:
  """The stand-alone command that runs the same stage."""
  parts = [f"python -m experiments.{binary}"]
  parts += [f"--gin_file={f}" for f in gin.files]
  parts += ["--gin_bindings=" + _quote(b) for b in gin.bindings + extra]
  return " ".join(parts + list(args))


class CellRunner:
  """Runs the cells of one table at one scale (``table_lib.run_cells``' callable)."""

  def __init__(self, table: spec_lib.TableSpec, scale: str, output_dir: str,
               data_dir: str | None = None, num_archs: int = 0,
               log: Callable[[str], None] = print, search_root: str | None = None):
    self.table = table
    self.search_root = search_root or os.path.join(output_dir, "searches")
    self.scale = scale
    self.output_dir = output_dir
    self.data_dir = data_dir
    self.num_archs = num_archs
    self.log = log

  def __call__(self, cell: table_lib.Cell, path: str) -> dict[str, Any]:
    _free_memory()
    system = cell.system
    if self.table.kind == "params":
      return self.count(system)
    if self.table.kind == "ranking":
      if cell.arch is None:
        return self.rank(system, cell.seed)
      arc = self.ranking_arcs()[cell.arch]
      return {"arc": arc, "retrained": self.retrain(system.final, arc, cell.seed, path, fixed=True)}
    search = self.search(system.search, cell.seed) if system.search else None
    arc = search["arc"] if search else system.arc
    retrained = None
    if system.final is not None and self.table.kind != "search_cost" and arc:
      retrained = self.retrain(system.final, arc, cell.seed, path, fixed=search is None,
                               arc_file=search and os.path.join(search["dir"], "best.json"))
    return {"arc": arc, "search": search, "retrained": retrained}

  # ------------------------------------------------------------------
  def _gin(self, stage: spec_lib.Stage) -> tuple[spec_lib.Gin, tuple[str, ...]]:
    return stage.gin(self.scale), data_bindings(stage, self.scale, self.data_dir)

  def search(self, stage: spec_lib.Stage, seed: int) -> dict[str, Any]:
    """Runs (or resumes, or reads) the search `stage` with `seed`."""
    import gin  # pylint: disable=g-import-not-at-top
    config, extra = self._gin(stage)
    directory = os.path.join(self.search_root, f"{stage.id}-{gin_digest(config, extra)}-seed{seed}")
    marker = directory + ".json"
    if os.path.exists(marker):
      with open(marker) as f:
        return json.load(f)
    run = run_dir_lib.RunDir(directory)
    resume = os.path.isdir(directory) and bool(os.listdir(directory))
    before = sum(r.get("seconds", 0.0) for r in run.read_jsonl("rounds.jsonl")) if resume else 0.0
    self.log(f"  search {stage.id} seed {seed} ({'resumed' if resume else 'new'}): {directory}")
    started, started_cpu = time.time(), _cpu_seconds()
    gin.clear_config()
    try:
      best = cli.run_search(list(config.files), list(config.bindings + extra), directory,
                            seed=seed, resume=resume, overwrite=False)
    finally:
      gin.clear_config()
    records = run.children()
    phase = best.get("phase") or (records[0]["phase"] if records else None)
    score_key = next((k for k in SCORE_KEYS if best.get(k) is not None), None)
    summary = {
        "id": stage.id, "dir": directory, "arc": best.get("arc"), "phase": phase,
        "derived_on": best.get("derived_on", "trained"), "reward": best.get("reward"),
        "score_key": score_key, "score": best.get(score_key) if score_key else None,
        "params": best.get("params"),
        "evaluations": len(records) + len(best.get("candidates") or []),
        "children_from_scratch": len(records) if phase == "from_scratch" else 0,
        "rounds": len(run.read_jsonl("rounds.jsonl")),
        "seconds": before + time.time() - started,
        "cpu_seconds": None if resume else _cpu_seconds() - started_cpu,
        "command": command("search", config, extra, f"--seed={seed}", f"--output_dir={directory}"),
    }
    atomic_write_json(marker, summary)
    return summary

  def retrain(self, stage: spec_lib.Stage, arc: str, seed: int, path: str, *, fixed: bool,
              arc_file: str | None = None) -> dict[str, Any]:
    """Trains `arc` from scratch with the retraining `stage` and tests it."""
    import gin  # pylint: disable=g-import-not-at-top
    config, extra = self._gin(stage)
    final_dir = os.path.join(path, "final")
    os.makedirs(final_dir, exist_ok=True)
    gin.clear_config()
    try:
      task = cli.configured_task(list(config.files), list(config.bindings + extra))
      record = task.evaluate(task.parse(arc), seed, final_dir=final_dir)
    finally:
      gin.clear_config()
    which = f"--arc={_quote(arc)}" if fixed or not arc_file else f"--arc_file={arc_file}"
    out = {k: record.get(k) for k in RETRAINED_KEYS if record.get(k) is not None}
    out["command"] = command("train_final", config, extra, which, f"--seed={seed}",
                             f"--output_dir={final_dir}")
    return out

  def count(self, system: spec_lib.System) -> dict[str, Any]:
    """Parameters of the system's architecture at paper settings (no data)."""
    import gin  # pylint: disable=g-import-not-at-top
    config = system.final.gin("paper")
    gin.clear_config()
    try:
      task = cli.configured_task(list(config.files), list(config.bindings))
      arc = task.parse(system.arc)
      counts = getattr(task, "parameter_counts", None)
      if counts is not None:
        params = counts(arc, PARAMS_SHAPE, 10)
      else:
        params = {"params": task.count_params(arc, PARAMS_SHAPE, 10)}
    finally:
      gin.clear_config()
    return {"arc": system.arc, "params": params,
            "command": command("count_params", config, (), f"--arc={_quote(system.arc)}")}

  # ------------------------------------------------------------------
  def ranking_arcs(self) -> list[str]:
    """The architectures of a ranking table: `num_archs` uniform samples of
    the retraining's space (seed `RANKING_SEED`), drawn once and kept in
    ``ranking_arcs.json``."""
    import gin  # pylint: disable=g-import-not-at-top
    path = os.path.join(self.output_dir, "ranking_arcs.json")
    if os.path.exists(path):
      with open(path) as f:
        arcs = json.load(f)["arcs"]
      if len(arcs) >= self.num_archs:
        return arcs
    stage = self.table.systems[0].final
    config, extra = self._gin(stage)
    gin.clear_config()
    try:
      task = cli.configured_task(list(config.files), list(config.bindings + extra))
      samples = strategy_lib.RandomSearch(task.space, seed=RANKING_SEED).ask(self.num_archs)
    finally:
      gin.clear_config()
    arcs = [s.arc.to_string() for s in samples]
    os.makedirs(self.output_dir, exist_ok=True)
    atomic_write_json(path, {"arcs": arcs, "seed": RANKING_SEED})
    return arcs

  def rank(self, system: spec_lib.System, seed: int) -> dict[str, Any]:
    """The search, then the ranking architectures scored with its shared weights."""
    import gin  # pylint: disable=g-import-not-at-top
    import numpy as np  # pylint: disable=g-import-not-at-top
    search = self.search(system.search, seed)
    arcs = self.ranking_arcs()
    config, extra = self._gin(system.search)
    from runner import experiment as experiment_lib  # pylint: disable=g-import-not-at-top
    gin.clear_config()
    try:
      cli.parse_gin(list(config.files), list(config.bindings + extra))
      experiment = experiment_lib.make_experiment(seed)
      saved = run_dir_lib.RunDir(search["dir"]).load_state()
      if saved is None:
        raise cli.UsageError(f"{search['dir']} holds no finished search state")
      prefix = "evaluator/"
      experiment.evaluator.load_state({k[len(prefix):]: v for k, v in saved[1].items()
                                       if k.startswith(prefix)})
      rng = np.random.default_rng([seed, 2019])
      scores = [experiment.evaluator.score(experiment.evaluator.parse(a), rng) for a in arcs]
      experiment.evaluator.close()
    finally:
      gin.clear_config()
    key = next((k for k in SCORE_KEYS if scores and scores[0].get(k) is not None), "reward")
    return {"search": search,
            "ranking": {"arcs": arcs, "score_key": key, "phase": search["phase"],
                        "derived_on": experiment.evaluator.derive_on,
                        "shared_weight": [s.get(key) for s in scores]}}


def _cpu_seconds() -> float:
  """CPU seconds used so far by this process (every thread) and its finished
  worker processes. Unlike wall time, other processes' load and a paused
  process do not inflate it; a resumed search has none (the time before the
  interruption is lost)."""
  own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
  return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _free_memory() -> None:
  """Drops the previous cell's Keras state before the next cell builds."""
  try:
    import keras  # pylint: disable=g-import-not-at-top
    keras.backend.clear_session()
  except ImportError:
    pass
  gc.collect()
