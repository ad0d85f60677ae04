"""Children trained by Ray actors, on one machine or a cluster (Zoph & Le §3.2).

Zoph & Le train the sampled children in parallel on many machines (800 GPUs
in their CIFAR-10 run), each child on its own worker, and update the
controller once a step's m children have reported. `RayPool` does that with
one Ray actor per worker: the actor parses the run's gin configuration once
(sent as text, so no machine needs the driver's gin files), builds the task
(loading the data set once, from its own machine's disk) and then trains the
children it is given, one at a time. The pool keeps every actor busy and
yields each child as it finishes, like `runner.workers.LocalPool`.

A child whose actor dies (a lost machine, an out-of-memory kill) is retried
once on a fresh actor, then recorded as a failed child with reward 0; a
child running past ``FromScratch.child_timeout_seconds`` is recorded as
failed and its actor replaced (`runner.workers.ChildPool`). The other actors
carry on meanwhile. A replacement actor waits for free resources like any
actor, so on a cluster that lost nodes for good set a child timeout.

Select it with ``FromScratch.backend = 'ray'`` (see ``gin/nas/ray.gin``);
``RayPool.address`` is ``None`` for a Ray instance on this machine only,
``'auto'`` or ``'ray://host:10001'`` for an existing cluster, on whose every
node rlnas and the data must be installed (or shipped with
``RayPool.runtime_env``).
"""

from __future__ import annotations

from typing import Any

import gin

from controller import errors
from runner import workers


@gin.configurable(denylist=["num_workers", "config_text",
                            "child_timeout_seconds"])
class RayPool(workers.ChildPool):
  """Trains children on `num_workers` Ray actors (the rules of `ChildPool`)."""

  def __init__(self, num_workers: int, config_text: str,
               address: str | None = None,
               cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0,
               runtime_env: dict[str, Any] | None = None,
               child_timeout_seconds: float | None = None):
    """Starts (or joins) Ray and creates the actors.

    Args:
      num_workers: actors, each training one child at a time.
      config_text: the run's gin configuration, parsed by every actor.
      address: ``None`` starts Ray on this machine; otherwise an existing
        cluster's address (``'auto'``, ``'ray://host:10001'``).
      cpus_per_worker: CPUs Ray reserves per actor (also its TensorFlow
        thread count).
      gpus_per_worker: GPUs Ray reserves per actor (1 in the paper's setting:
        one child per GPU).
      runtime_env: Ray's runtime environment for the actors (e.g.
        ``{"working_dir": "."}`` to ship this checkout to a cluster).
      child_timeout_seconds: a child running longer is recorded as failed
        and its actor replaced (None: no limit; `FromScratch` passes it).

    Raises:
      errors.ConfigError: ray is not installed or the settings are unusable.
    """
    try:
      import ray  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise errors.ConfigError(
          "FromScratch.backend = 'ray' needs Ray: "
          "pip install -e '.[distributed]'") from None
    if num_workers < 1 or cpus_per_worker <= 0 or gpus_per_worker < 0:
      raise errors.ConfigError(
          f"RayPool needs num_workers >= 1, cpus_per_worker > 0 and "
          f"gpus_per_worker >= 0, got {num_workers}, {cpus_per_worker}, "
          f"{gpus_per_worker}")
    super().__init__(num_workers, child_timeout_seconds)
    self._ray = ray
    self._owns_ray = not ray.is_initialized()
    if self._owns_ray:
      env = dict(runtime_env or {})
      env.setdefault("env_vars", {}).setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
      ray.init(address=address, runtime_env=env, include_dashboard=False,
               configure_logging=False, log_to_driver=False)
    self._actor_class = ray.remote(num_cpus=cpus_per_worker,
                                   num_gpus=gpus_per_worker)(
                                       workers.ChildWorker)
    self._config_text = config_text
    self._threads = max(1, int(cpus_per_worker))
    self._refs: dict[Any, Any] = {}  # the running call -> its actor
    self._start_workers()

  @property
  def actors(self) -> list[Any]:
    """The live actors, idle and busy (tests kill them)."""
    return list(self._idle) + list(self._running)

  def _new_worker(self):
    return _Actor(self._actor_class.remote(self._config_text, self._threads))

  def _start(self, worker, job) -> None:
    self._refs[worker.handle.evaluate.remote(*job)] = worker

  def _wait(self, workers_, timeout):
    ray = self._ray
    ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
    events = []
    for ref in ready:
      worker = self._refs.pop(ref)
      try:
        _, record = ray.get(ref)
        events.append((worker, "done", record))
      except ray.exceptions.RayActorError as error:
        events.append((worker, "lost", f"Ray worker lost: "
                                       f"{type(error).__name__}"))
      except ray.exceptions.RayTaskError as error:
        lines = str(error).strip().splitlines() or [type(error).__name__]
        events.append((worker, "done", workers.failed_record(
            f"child raised on its worker: {lines[-1]}")))
    return events

  def _kill(self, worker) -> None:
    self._refs = {r: w for r, w in self._refs.items() if w is not worker}
    self._ray.kill(worker.handle, no_restart=True)

  def close(self) -> None:
    super().close()
    if self._owns_ray:
      self._ray.shutdown()


class _Actor:
  """An actor handle, hashable by identity."""

  def __init__(self, handle):
    self.handle = handle
