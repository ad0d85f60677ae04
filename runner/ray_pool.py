"""Children trained by Ray actors, on one machine or a cluster (Zoph & Le §3.2).

Zoph & Le train the sampled children in parallel on many machines (800 GPUs
in their CIFAR-10 run), each child on its own worker, and update the
controller once a step's m children have reported. `RayPool` does that with
one Ray actor per worker: the actor parses the run's gin configuration once
(sent as text, so no machine needs the driver's gin files), builds the task
(loading the data set once, from its own machine's disk) and then trains the
children it is given, one at a time. The pool keeps every actor busy and
yields each child as it finishes, like `runner.workers.LocalPool`.

A child whose actor dies (a lost machine, an out-of-memory kill) is recorded
as a failed child with reward 0, and the other actors carry on; if every
actor is gone the run stops with a one-line error (finished children are
already saved, so ``--resume`` continues).

Select it with ``FromScratch.backend = 'ray'`` (see ``gin/nas/ray.gin``);
``RayPool.address`` is ``None`` for a Ray instance on this machine only,
``'auto'`` or ``'ray://host:10001'`` for an existing cluster, on whose every
node rlnas and the data must be installed (or shipped with
``RayPool.runtime_env``).
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import gin

from controller import errors
from runner import workers


def _failed(error: str) -> dict[str, Any]:
  return {"status": "failed", "reward": 0.0, "params": None, "seconds": 0.0,
          "error": error}


@gin.configurable(denylist=["num_workers", "config_text"])
class RayPool:
  """Trains children on `num_workers` Ray actors."""

  def __init__(self, num_workers: int, config_text: str,
               address: str | None = None,
               cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0,
               runtime_env: dict[str, Any] | None = None):
    """Starts (or joins) Ray and creates the actors.

    Args:
      num_workers: actors, each training one child at a time.
      config_text: the run's gin configuration, parsed by every actor.
      address: ``None`` starts Ray on this machine; otherwise an existing
        cluster's address (``'auto'``, ``'ray://host:10001'``).
      cpus_per_worker: CPUs Ray reserves per actor (also its TensorFlow
        thread count).
      gpus_per_worker: GPUs Ray reserves per actor (1 in the paper's setting).
      runtime_env: Ray's runtime environment for the actors (e.g.
        ``{"working_dir": "."}`` to ship this checkout to a cluster).

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
    self._ray = ray
    self._owns_ray = not ray.is_initialized()
    if self._owns_ray:
      env = dict(runtime_env or {})
      env.setdefault("env_vars", {}).setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
      ray.init(address=address, runtime_env=env, include_dashboard=False,
               configure_logging=False, log_to_driver=False)
    actor = ray.remote(num_cpus=cpus_per_worker,
                       num_gpus=gpus_per_worker)(workers.ChildWorker)
    threads = max(1, int(cpus_per_worker))
    self._actors = [actor.remote(config_text, threads)
                    for _ in range(num_workers)]
    self.num_workers = num_workers

  def run(self, jobs: Sequence[tuple[int, str, int]]
          ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields (slot, record) as children finish, in finishing order."""
    ray = self._ray
    queue = list(jobs)
    idle = list(self._actors)
    pending: dict[Any, tuple[Any, int]] = {}
    while queue or pending:
      while queue and idle:
        slot, arc_text, seed = queue.pop(0)
        actor = idle.pop(0)
        pending[actor.evaluate.remote(slot, arc_text, seed)] = (actor, slot)
      if not pending:
        raise errors.WorkersLostError(
            "every Ray worker was lost; the finished children are saved "
            "(--resume continues)")
      (ref,), _ = ray.wait(list(pending), num_returns=1)
      actor, slot = pending.pop(ref)
      try:
        _, record = ray.get(ref)
        idle.append(actor)
      except ray.exceptions.RayActorError as error:
        self._actors.remove(actor)
        record = _failed(f"Ray worker lost: {type(error).__name__}")
      except ray.exceptions.RayTaskError as error:
        idle.append(actor)
        record = _failed(f"child raised on its worker: "
                         f"{str(error).splitlines()[-1]}")
      yield slot, record

  def close(self) -> None:
    for actor in self._actors:
      self._ray.kill(actor)
    self._actors = []
    if self._owns_ray:
      self._ray.shutdown()
