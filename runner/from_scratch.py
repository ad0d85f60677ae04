"""Evaluation from scratch: each architecture trained on its own (Zoph & Le §3.2).

The NAS evaluator of `runner.loop`. A child task (`runner.tasks.make_task`)
turns an architecture into a trained child and its reward; a pool of workers
(`runner.workers.LocalPool` on this machine, `runner.ray_pool.RayPool` on
Ray) trains the children of a controller update in parallel and yields each
as it finishes. Workers are given the run's gin configuration as text, so no
worker needs the driver's files. A child lost with its worker is retried
once; ``child_timeout_seconds`` fails a hung child (`runner.workers.ChildPool`).
With ``asynchronous = True`` the search runs in `runner.async_loop`: every
worker stays busy and the controller updates from each m children that
finish (Zoph & Le §3.2).

Zoph & Le's depth schedule (§4.1: children start at 6 layers and grow by 2
every 1,600 children) is `grow_from_layers`, `grow_by_layers`,
`grow_every`: at the start of each round the strategy switches to the space
of that round's depth, keeping its weights (they are shared across layers).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import gin
import numpy as np

from controller import errors
from controller import gin_modules
from controller import search_space as ss
from runner import tasks as tasks_lib
from runner import workers


def layers_at(first_child: int, grow_from: int, grow_by: int,
              grow_every: int, max_layers: int) -> int:
  """Child depth under Zoph & Le's schedule (§4.1): +`grow_by` every
  `grow_every` children, from `grow_from`, at most `max_layers`.

  The depth of a round is that of its first child, so a round's children
  share one depth.
  """
  return min(max_layers, grow_from + grow_by * (first_child // grow_every))


@gin.configurable(denylist=["config_text", "task"])
class FromScratch:
  """Trains every architecture from scratch on a pool of workers.

  Attributes (see `runner.loop.Evaluator`): children of an interrupted round
  that finished are reused on resume; the result is the best child.
  """

  kind = "nas"
  phase = "from_scratch"
  round_name = "update"
  reuses_finished = True
  log_each_sample = True
  derive_samples = 0
  derive_on = "trained"
  measures_latency = True  # children time themselves (child.latency)

  def __init__(self, config_text: str, task: tasks_lib.ChildTask | None = None,
               num_workers: int = 1, backend: str = "local",
               grow_from_layers: int | None = None, grow_by_layers: int = 2,
               grow_every: int = 1600, asynchronous: bool = False,
               child_timeout_seconds: float | None = None):
    """Builds the task and the pool.

    Args:
      config_text: the gin configuration the workers parse.
      task: the child task (None: `make_task()` as gin binds it).
      num_workers: children trained at once.
      backend: ``'local'`` (processes on this machine) or ``'ray'`` (Ray
        actors on this machine or a cluster; `runner.ray_pool.RayPool`).
      grow_from_layers: None: every child has the space's depth; else the
        depth schedule's first depth (6 in the paper).
      grow_by_layers: layers added at each growth (2).
      grow_every: children between growths (1,600).
      asynchronous: False: each controller update waits for its m children
        (deterministic); True: every worker stays busy and the controller
        updates from each m children that finish, sampling a new child as a
        worker frees up (Zoph & Le §3.2; `runner.async_loop`).
      child_timeout_seconds: a child still training after this long is
        recorded as failed and its worker replaced (None: no limit). A
        child lost with its worker is retried once either way.

    Raises:
      errors.ConfigError: an unusable backend, depth schedule or timeout.
    """
    if asynchronous and grow_from_layers is not None:
      raise errors.ConfigError(
          "FromScratch.asynchronous does not combine with grow_from_layers "
          "yet (children in flight would belong to the shallower space)")
    self.asynchronous = asynchronous
    self.task = task or tasks_lib.make_task()
    self.space = self.task.space
    self._depth_of = _depth_schedule(self.task, grow_from_layers,
                                     grow_by_layers, grow_every)
    self._depth = None
    self._pool = make_pool(backend, num_workers, config_text, task=self.task,
                           child_timeout_seconds=child_timeout_seconds)

  def start_round(self, round_index: int, first_sample: int,
                  strategy) -> dict[str, Any]:
    del round_index
    if self._depth_of is None:
      return {}
    self._depth = self._depth_of(first_sample)
    strategy.set_space(self.task.space_with_layers(self._depth))
    return {"num_layers": self._depth}

  def evaluate(self, jobs) -> Iterator[tuple[int, dict[str, Any]]]:
    work = [(job.slot, job.arc.to_string(), job.seed) for job in jobs]
    for slot, record in self._pool.run(work):
      if self._depth is not None:
        record = dict(record, num_layers=self._depth)
      yield slot, record

  # the asynchronous loop's interface (runner.async_loop) -----------------
  @property
  def capacity(self) -> int:
    """Children that train at once."""
    return self._pool.num_workers

  def submit(self, job) -> None:
    """Starts training `job` (a `runner.loop.Job`) as soon as a worker is free."""
    self._pool.submit(job.index, job.arc.to_string(), job.seed)

  def next_finished(self, timeout: float
                    ) -> tuple[int, dict[str, Any]] | None:
    """``(index, record)`` of the next finished child, or None after `timeout`."""
    return self._pool.next_result(timeout)

  def score(self, arc, rng) -> dict[str, Any]:
    raise NotImplementedError("a from-scratch search derives its best child")

  def parse(self, text: str) -> ss.Architecture:
    return self.task.parse(text)

  def describe(self, arc) -> list[str] | None:
    describe = getattr(self.task, "describe", None)
    return describe(arc) if describe else None

  def state(self) -> dict[str, np.ndarray]:
    return {}

  def load_state(self, arrays: dict[str, np.ndarray]) -> None:
    del arrays

  def close(self) -> None:
    self._pool.close()


def make_pool(backend: str, num_workers: int, config_text: str, task=None,
              child_timeout_seconds: float | None = None
              ) -> workers.ChildPool:
  """The child-training pool of `backend`: ``'local'`` or ``'ray'``.

  Both are `runner.workers.ChildPool`s: ``run(jobs)`` yields (slot, record)
  as children finish; ``submit`` + ``next_result`` serve the asynchronous
  loop.
  """
  if backend == "local":
    return workers.LocalPool(num_workers, config_text, task=task,
                             child_timeout_seconds=child_timeout_seconds)
  if backend == "ray":
    ray_pool = gin_modules.import_module("runner.ray_pool")
    return ray_pool.RayPool(num_workers, config_text,
                            child_timeout_seconds=child_timeout_seconds)
  raise errors.ConfigError(
      f"FromScratch.backend must be 'local' or 'ray', got {backend!r}")


def _depth_schedule(task, grow_from: int | None, grow_by: int,
                    grow_every: int) -> Callable[[int], int] | None:
  """``first child index -> depth``, or None without a schedule."""
  if grow_from is None:
    return None
  if not hasattr(task, "space_with_layers"):
    raise errors.ConfigError(
        "FromScratch.grow_from_layers needs a task with a layered space "
        "(make_task.task = 'image_classification')")
  max_layers = int(task.space.meta("num_layers"))
  if not 1 <= grow_from <= max_layers or grow_by < 1 or grow_every < 1:
    raise errors.ConfigError(
        f"depth schedule: need 1 <= grow_from_layers ({grow_from}) <= "
        f"nas_cnn_space.num_layers ({max_layers}), grow_by_layers >= 1 and "
        f"grow_every >= 1")
  return lambda first: layers_at(first, grow_from, grow_by, grow_every,
                                 max_layers)

