"""Training children in worker processes (Zoph & Le §3.2).

Zoph & Le train many children at once on separate machines. A worker here
(a local process, or a Ray actor in `runner.ray_pool`) parses the run's gin
configuration once, from its text, builds the child task (loading its data
set once) and then trains the children it is sent. Local workers are
spawned, not forked, since TensorFlow is not fork-safe; with one worker the
children train in the calling process, which saves a second TensorFlow.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any, Iterator, Sequence

import gin

from runner import tasks

Job = tuple[int, str, int]
"""``(slot, architecture text, seed)``."""


class ChildWorker:
  """A worker's body: one task, many children."""

  def __init__(self, config_text: str, threads: int):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    gin.parse_config(config_text)  # its imports register what it binds
    self._task = tasks.make_task()

  def evaluate(self, slot: int, arc_text: str, seed: int
               ) -> tuple[int, dict[str, Any]]:
    return slot, self._task.evaluate(self._task.parse(arc_text), seed)


_WORKER: ChildWorker | None = None


def _init_process(config_text: str, threads: int) -> None:
  global _WORKER
  _WORKER = ChildWorker(config_text, threads)


def _run_in_process(job: Job) -> tuple[int, dict[str, Any]]:
  return _WORKER.evaluate(*job)


class LocalPool:
  """Trains children on `num_workers` local processes."""

  def __init__(self, num_workers: int, config_text: str, task=None):
    self.num_workers = num_workers
    self._task = task
    self._pool = None
    if num_workers > 1:
      threads = max(1, (os.cpu_count() or 1) // num_workers)
      context = multiprocessing.get_context("spawn")
      self._pool = context.Pool(num_workers, initializer=_init_process,
                                initargs=(config_text, threads))

  def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields (slot, record) as children finish, in finishing order."""
    if self._pool is None:
      for slot, arc_text, seed in jobs:
        yield slot, self._task.evaluate(self._task.parse(arc_text), seed)
      return
    yield from self._pool.imap_unordered(_run_in_process, jobs)

  def close(self) -> None:
    if self._pool is not None:
      self._pool.close()
      self._pool.join()
