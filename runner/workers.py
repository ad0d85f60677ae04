"""A pool of local worker processes that train children in parallel.

Zoph & Le (§3.2) train many children at once on separate machines; here each
worker is a local process (spawned, not forked, since TensorFlow is not
fork-safe) that parses the run's gin configuration once, builds the task
(loading its data set once) and then trains the children it is sent. With
one worker the children train in the calling process, which saves the start-up
of a second TensorFlow.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from typing import Any, Iterator, Sequence

import gin

_TASK = None


# Modules whose import registers gin configurables.
_CONFIGURABLE_MODULES = (
    "child.nas_cnn.trainer", "child.nas_cnn.space", "child.nas_tree_cell.language_model",
    "controller.strategy", "runner.nas_search", "runner.ray_pool",
    "runner.search",
    "runner.tasks", "child.nas_cnn.task", "child.nas_tree_cell.task",
    "enas.image.final_task", "enas.recurrent.final_task", "enas.image.shared_weights", "enas.image.spaces",
    "enas.macro.supergraph", "enas.micro.supergraph", "enas.recurrent.supergraph",
    "enas.recurrent.shared_weights", "enas.image.final_training", "enas.recurrent.final_training",
)
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def import_configurables() -> None:
  """Imports every module that registers gin configurables."""
  for name in _CONFIGURABLE_MODULES:
    importlib.import_module(name)


def configure(gin_files: Sequence[str], gin_bindings: Sequence[str]) -> None:
  """Parses gin the same way in the main process and in every worker.

  gin ``include`` paths resolve against the working directory, then the
  repository root.
  """
  import_configurables()
  gin.add_config_file_search_path(_REPO_ROOT)
  gin.parse_config_files_and_bindings(
      list(gin_files), list(gin_bindings), skip_unknown=False)


def _init_worker(gin_files, gin_bindings, threads):
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(threads)
  configure(gin_files, gin_bindings)
  global _TASK
  from runner import tasks  # pylint: disable=g-import-not-at-top
  _TASK = tasks.make_task()


def _run_job(job: tuple[int, str, int]) -> tuple[int, dict[str, Any]]:
  slot, arc_text, seed = job
  arc = _TASK.parse(arc_text)
  return slot, _TASK.evaluate(arc, seed)


class LocalPool:
  """Trains children on `num_workers` local processes."""

  def __init__(self, num_workers: int, gin_files: Sequence[str],
               gin_bindings: Sequence[str], task=None):
    self.num_workers = num_workers
    self._task = task
    self._pool = None
    if num_workers > 1:
      threads = max(1, (os.cpu_count() or 1) // num_workers)
      context = multiprocessing.get_context("spawn")
      self._pool = context.Pool(
          num_workers, initializer=_init_worker,
          initargs=(list(gin_files), list(gin_bindings), threads))

  def run(self, jobs: Sequence[tuple[int, str, int]]
          ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields (slot, record) as children finish, in finishing order."""
    if self._pool is None:
      for slot, arc_text, seed in jobs:
        arc = self._task.parse(arc_text)
        yield slot, self._task.evaluate(arc, seed)
      return
    yield from self._pool.imap_unordered(_run_job, jobs)

  def close(self) -> None:
    if self._pool is not None:
      self._pool.close()
      self._pool.join()


def make_pool(backend: str, num_workers: int, gin_files: Sequence[str],
              gin_bindings: Sequence[str], task=None):
  """The child-training pool of `backend`: ``'local'`` or ``'ray'``.

  Both have ``run(jobs) -> iterator of (slot, record)`` and ``close()``.
  """
  if backend == "local":
    return LocalPool(num_workers, gin_files, gin_bindings, task=task)
  if backend == "ray":
    from runner import ray_pool  # pylint: disable=g-import-not-at-top
    return ray_pool.RayPool(num_workers)
  from controller import errors  # pylint: disable=g-import-not-at-top
  raise errors.ConfigError(
      f"run_nas_search.backend must be 'local' or 'ray', got {backend!r}")
