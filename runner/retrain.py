"""Retraining a search's result from scratch, in the same job as the search.

A search scores its result in the search phase: with shared weights (ENAS,
Pham et al. 2018 §2.2), weights trained for every architecture at once; from
scratch (NAS, Zoph & Le 2017 §3.2), a child trained briefly. Neither is the
number the papers report, which is the test score of the found architecture
retrained from scratch (Pham et al. §3.2; Zoph & Le §4.1). `retrain_after_search`
does a short version of that right after the search, for any mode: it
builds the child task of a retraining configuration through the task
registry (`runner.tasks.make_task`), trains the search's result from scratch
with the search's seed, tests it and writes ``RUN/retrained/result.json``
(plus what the task saves there, e.g. the weights, and the retraining's
``operative_config.gin``). It is `experiments.train_final` with the run's
``best.json``, run in-process.

The retraining configuration is its own gin configuration (`Retrain.gin_files`
+ `Retrain.gin_bindings`, as one would pass to `experiments.train_final`), or
the search's own one plus bindings when no files are given (NAS modes, where
the search's task is the retraining task). The search's configuration is
restored afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import Any, Callable, Iterator, Sequence

import gin

from controller import errors
from runner import run_dir as run_dir_lib
from runner import tasks
from runner import tensorboard

RETRAINED = "retrained"
"""The subdirectory of the run that holds the retraining."""
RESULT = "result.json"
PHASE = "retrained_from_scratch"
"""The ``phase`` of a retrained record (search records: see `runner.loop`)."""


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Retrain:
  """Whether and how `experiments.search` retrains its result afterwards.

  Attributes:
    enabled: retrain after the search (off by default: the retraining of a
      long search is a job of its own, `experiments.train_final`; on in
      gin/quickstart.gin).
    gin_files: the retraining's gin files (they bind
      `runner.tasks.make_task` and the task's settings, as for
      `experiments.train_final`); empty: the search's own configuration.
    gin_bindings: bindings applied after `gin_files`.
    longer_gin_files: the gin files of the longer retraining whose command
      is printed at the end (empty: `gin_files`).
    longer_gin_bindings: bindings of that command. With neither of the two
      set, the printed command repeats this retraining.
  """

  enabled: bool = False
  gin_files: Sequence[str] = ()
  gin_bindings: Sequence[str] = ()
  longer_gin_files: Sequence[str] = ()
  longer_gin_bindings: Sequence[str] = ()

  def __post_init__(self):
    for name in ("gin_files", "gin_bindings", "longer_gin_files",
                 "longer_gin_bindings"):
      value = getattr(self, name)
      if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise errors.ConfigError(
            f"Retrain.{name} must be a list of strings, not {value!r}")
    if self.enabled:
      for path in self.gin_files:
        if not _find_gin_file(path):
          raise errors.ConfigError(f"Retrain.gin_files: gin file not found: "
                                   f"{path}")


@dataclasses.dataclass(frozen=True)
class Retrained:
  """The outcome of `retrain_after_search`.

  Attributes:
    record: what ``result.json`` holds: the task's record (``status``,
      ``test_accuracy`` or ``test_ppl``, validation scores, ``params``,
      ``seconds``, ...) with ``arc``, ``space``, ``seed``, ``phase``
      (`PHASE`), ``gin_files`` and ``gin_bindings``.
    output_dir: the directory of the retraining.
    reused: the record was found from an earlier run of the same search
      (``--resume`` of a finished search) and not trained again.
    longer_gin_files: gin files for a longer retraining
      (`Retrain.longer_gin_files`, else `Retrain.gin_files`; empty: the
      search's ``operative_config.gin``).
    longer_gin_bindings: bindings for it (`Retrain.longer_gin_bindings`;
      `Retrain.gin_bindings` when no longer retraining is configured).
    longer: a longer retraining is configured (else the command repeats
      this one).
  """

  record: dict[str, Any]
  output_dir: str
  reused: bool
  longer_gin_files: tuple[str, ...]
  longer_gin_bindings: tuple[str, ...]
  longer: bool = True


def _find_gin_file(path: str) -> str | None:
  """`path` as gin would find it: as given, or under a search path."""
  if os.path.exists(path):
    return path
  for prefix in gin.config._LOCATION_PREFIXES:  # pylint: disable=protected-access
    candidate = os.path.join(prefix, path)
    if os.path.exists(candidate):
      return candidate
  return None


@contextlib.contextmanager
def _configuration(config: Retrain) -> Iterator[None]:
  """The retraining's gin configuration in place of the search's, restored."""
  search_config = gin.config_str()
  gin.clear_config()
  try:
    try:
      if config.gin_files:
        gin.parse_config_files_and_bindings(
            list(config.gin_files), list(config.gin_bindings),
            skip_unknown=False)
      else:
        gin.parse_config(search_config)
        gin.parse_config(list(config.gin_bindings))
    except (ValueError, SyntaxError, KeyError, TypeError, OSError) as e:
      first = (str(e).strip() or type(e).__name__).splitlines()[0]
      raise errors.ConfigError(
          f"Retrain: bad retraining configuration: {first}") from None
    yield
  finally:
    gin.clear_config()
    gin.parse_config(search_config)


def _earlier_result(path: str, best: dict[str, Any], seed: int
                    ) -> dict[str, Any] | None:
  try:
    with open(path) as f:
      record = json.load(f)
  except (OSError, ValueError):
    return None
  if (record.get("arc") == best["arc"] and record.get("seed") == seed
      and record.get("status") == "ok"):
    return record
  return None


def retrain_after_search(run: run_dir_lib.RunDir, best: dict[str, Any],
                         seed: int, log: Callable[[str], None] = print
                         ) -> Retrained | None:
  """Retrains the search's result from scratch if `Retrain.enabled`.

  Args:
    run: the search's run directory.
    best: the search's result (``best.json``); ``{}`` when it found none.
    seed: the seed of the retraining (the search's).
    log: receives one line when the retraining starts.

  Returns:
    The retraining, or None when it is off or there is nothing to retrain.
    A retraining that failed (e.g. a non-finite loss) is returned with
    ``record['status'] == 'failed'``.

  Raises:
    errors.ConfigError: the retraining configuration does not parse.
    search_space.ArchitectureError: the retraining task cannot read the
      architecture (its space differs from the search's).
  """
  config = Retrain()
  if not config.enabled or not best:
    return None
  output_dir = run.file(RETRAINED)
  result_path = os.path.join(output_dir, RESULT)
  longer = bool(config.longer_gin_files or config.longer_gin_bindings)
  longer_files = tuple(config.longer_gin_files or config.gin_files)
  longer_bindings = tuple(config.longer_gin_bindings if longer
                          else config.gin_bindings)
  earlier = _earlier_result(result_path, best, seed)
  if earlier is not None:
    return Retrained(earlier, output_dir, True, longer_files, longer_bindings,
                     longer)
  with _configuration(config):
    task = tasks.make_task()
    arc = task.parse(best["arc"])
    os.makedirs(output_dir, exist_ok=True)
    log(f"retraining the result from scratch ({task.space.name}, seed {seed}) "
        f"in {output_dir}")
    # Its TensorBoard files sit beside the search's (RUN/tensorboard).
    record = tensorboard.evaluate_logged(task, arc, seed, output_dir)
    record = dict(record, arc=best["arc"], space=task.space.name, seed=seed,
                  phase=PHASE, gin_files=list(config.gin_files),
                  gin_bindings=list(config.gin_bindings))
    run_dir_lib.RunDir(output_dir).write_config(gin.operative_config_str())
  run_dir_lib.atomic_write_json(result_path, record)
  return Retrained(record, output_dir, False, longer_files, longer_bindings,
                   longer)
