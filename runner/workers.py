"""Training children in worker processes (Zoph & Le §3.2).

Zoph & Le train many children at once on separate machines. A worker here
(a local process, or a Ray actor in `runner.ray_pool`) parses the run's gin
configuration once, from its text, builds the child task (loading its data
set once) and then trains the children it is sent. Local workers are
spawned, not forked, since TensorFlow is not fork-safe; with one worker and
no child timeout the children train in the calling process, which saves a
second TensorFlow.

`ChildPool` is what both pools share: a queue of children, one child per
worker at a time, results handed out as they finish (``submit`` +
``next_result`` for the asynchronous loop, ``run`` for a controller update's
batch), and the failure rules:

* a child lost with its worker (the process killed, the actor dead) is
  retried once on a fresh worker, then recorded as failed;
* a child still running `child_timeout_seconds` after it started is recorded
  as failed and its worker is killed and replaced;
* every wait is bounded: ``next_result`` returns None when its timeout
  passes with nothing finished.

Every record a pool hands out carries ``attempts`` (1, or 2 after a retry).
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing
from multiprocessing import connection
import os
import sys
import time
from typing import Any, Iterator, Sequence

import gin

from child import quiet_tensorflow
from controller import errors
from runner import tasks

Job = tuple[int, str, int]
"""``(key, architecture text, seed)``; the key is the slot or the index."""

MAX_ATTEMPTS = 2
"""A child lost with its worker is trained at most this many times."""

POLL_SECONDS = 1.0
"""The longest `run` blocks in one wait (a bound, not a deadline)."""


def failed_record(error: str) -> dict[str, Any]:
  """The record of a child that produced no result (reward 0)."""
  return {"status": "failed", "reward": 0.0, "params": None, "seconds": 0.0,
          "error": error}


def _set_threads(threads: int) -> None:
  """TensorFlow's thread counts, before it is imported when possible.

  Setting them through the environment lets a task that never imports
  TensorFlow (a test stand-in) start a worker in well under a second.
  """
  if "tensorflow" in sys.modules:
    tf = sys.modules["tensorflow"]
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
  else:
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)


class ChildWorker:
  """A worker's body: one task, many children."""

  def __init__(self, config_text: str, threads: int):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _set_threads(threads)
    gin.parse_config(config_text)  # its imports register what it binds
    self._task = tasks.make_task()

  def evaluate(self, slot: int, arc_text: str, seed: int
               ) -> tuple[int, dict[str, Any]]:
    return slot, self._task.evaluate(self._task.parse(arc_text), seed)


@dataclasses.dataclass
class _Child:
  key: int
  arc_text: str
  seed: int
  attempt: int = 1
  started: float = 0.0

  @property
  def job(self) -> Job:
    return (self.key, self.arc_text, self.seed)


class ChildPool:
  """Queue, retries and timeouts over `num_workers` workers of a backend.

  A backend (`LocalPool`, `runner.ray_pool.RayPool`) implements
  ``_new_worker() -> worker``, ``_start(worker, job)``,
  ``_wait(workers, timeout) -> [(worker, kind, payload)]`` with kind
  ``'done'`` (payload: the record) or ``'lost'`` (payload: why), and
  ``_kill(worker)``.
  """

  def __init__(self, num_workers: int,
               child_timeout_seconds: float | None = None):
    if child_timeout_seconds is not None and child_timeout_seconds <= 0:
      raise errors.ConfigError(
          f"FromScratch.child_timeout_seconds must be None or positive, not "
          f"{child_timeout_seconds!r}")
    self.num_workers = num_workers
    self.child_timeout_seconds = child_timeout_seconds
    self._queue: collections.deque[_Child] = collections.deque()
    self._finished: collections.deque[tuple[int, dict[str, Any]]] = (
        collections.deque())
    self._running: dict[Any, _Child] = {}
    self._idle: list[Any] = []
    self.replaced = 0
    """Workers replaced after a loss or a timeout."""

  def _start_workers(self) -> None:
    self._idle = [self._new_worker() for _ in range(self.num_workers)]

  # what the loops call ----------------------------------------------------
  def submit(self, key: int, arc_text: str, seed: int) -> None:
    """Queues a child; it starts as soon as a worker is free."""
    self._queue.append(_Child(key, arc_text, seed))
    self._dispatch()

  def busy(self) -> int:
    """Children submitted and not yet handed out."""
    return len(self._queue) + len(self._running) + len(self._finished)

  def next_result(self, timeout: float
                  ) -> tuple[int, dict[str, Any]] | None:
    """The next finished child ``(key, record)``, or None after `timeout`.

    Also None at once when nothing is submitted.

    Raises:
      errors.WorkersLostError: children wait and no worker is left.
    """
    end = time.monotonic() + timeout
    while not self._finished:
      self._dispatch()
      if not self._running:
        if self._queue:  # queued children and not one worker left
          raise errors.WorkersLostError(
              "every worker is lost; the finished children are saved "
              "(--resume continues)")
        return None
      now = time.monotonic()
      wait = end - now
      if self.child_timeout_seconds is not None:
        first_deadline = min(c.started for c in self._running.values()
                             ) + self.child_timeout_seconds
        wait = min(wait, first_deadline - now)
      for worker, kind, payload in self._wait(list(self._running),
                                              max(0.0, wait)):
        self._settle(worker, kind, payload)
      self._expire(time.monotonic())
      if time.monotonic() >= end and not self._finished:
        return None
    return self._finished.popleft()

  def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields (key, record) as `jobs` finish, in finishing order."""
    for job in jobs:
      self.submit(*job)
    left = len(jobs)
    while left:
      result = self.next_result(POLL_SECONDS)
      if result is not None:
        left -= 1
        yield result

  def close(self) -> None:
    for worker in list(self._idle) + list(self._running):
      self._kill(worker)
    self._idle, self._running = [], {}

  # bookkeeping ------------------------------------------------------------
  def _dispatch(self) -> None:
    while self._queue and self._idle:
      child = self._queue.popleft()
      worker = self._idle.pop(0)
      child.started = time.monotonic()
      self._running[worker] = child
      self._start(worker, child.job)

  def _settle(self, worker, kind: str, payload) -> None:
    child = self._running.pop(worker)
    if kind == "done":
      self._idle.append(worker)
      self._finished.append((child.key, dict(payload, attempts=child.attempt)))
      return
    self._replace(worker)
    if child.attempt < MAX_ATTEMPTS:
      child.attempt += 1
      self._queue.appendleft(child)
    else:
      self._finished.append((child.key, dict(
          failed_record(f"worker lost on every attempt ({payload})"),
          attempts=child.attempt)))

  def _expire(self, now: float) -> None:
    if self.child_timeout_seconds is None:
      return
    for worker, child in list(self._running.items()):
      if now - child.started >= self.child_timeout_seconds:
        del self._running[worker]
        self._replace(worker)
        self._finished.append((child.key, dict(failed_record(
            f"timed out after {self.child_timeout_seconds:g}s; its worker "
            "was replaced"), attempts=child.attempt)))

  def _replace(self, worker) -> None:
    """Kills `worker` (or frees what is left of it) and starts another."""
    try:
      self._kill(worker)
    except Exception:  # pylint: disable=broad-except
      pass  # already gone
    self.replaced += 1
    try:
      self._idle.append(self._new_worker())
    except Exception as error:  # pylint: disable=broad-except
      if not self._idle and not self._running:
        raise errors.WorkersLostError(
            f"every worker is lost and none could be started ({error}); the "
            "finished children are saved (--resume continues)") from None

  # the backend ------------------------------------------------------------
  def _new_worker(self):
    raise NotImplementedError

  def _start(self, worker, job: Job) -> None:
    raise NotImplementedError

  def _wait(self, workers: list, timeout: float) -> list[tuple[Any, str, Any]]:
    raise NotImplementedError

  def _kill(self, worker) -> None:
    raise NotImplementedError


def _serve(conn, config_text: str, threads: int) -> None:
  """A local worker process: trains the children sent on `conn`."""
  # Building the task imports TensorFlow: its start-up lines (a failed
  # cuInit on a machine without a GPU) stay off the shared stderr.
  with quiet_tensorflow.stderr_silenced():
    worker = ChildWorker(config_text, threads)
  while True:
    try:
      job = conn.recv()
    except EOFError:
      return
    try:
      result = worker.evaluate(*job)
    except Exception as error:  # pylint: disable=broad-except
      lines = str(error).strip().splitlines() or [type(error).__name__]
      result = (job[0], failed_record(
          f"child raised on its worker: {lines[-1]}"))
    conn.send(result)


class _Process:
  """One spawned worker process and its end of the pipe."""

  def __init__(self, context, config_text: str, threads: int):
    self.conn, theirs = context.Pipe()
    self.process = context.Process(target=_serve,
                                   args=(theirs, config_text, threads),
                                   daemon=True)
    self.process.start()
    theirs.close()


class LocalPool(ChildPool):
  """Trains children on `num_workers` local processes.

  With one worker and no child timeout, children train in this process
  (nothing can be lost or stopped there).
  """

  def __init__(self, num_workers: int, config_text: str, task=None,
               child_timeout_seconds: float | None = None):
    super().__init__(num_workers, child_timeout_seconds)
    self._task = task
    self._inline = num_workers == 1 and child_timeout_seconds is None
    self._config_text = config_text
    self._threads = max(1, (os.cpu_count() or 1) // num_workers)
    self._context = multiprocessing.get_context("spawn")
    if self._inline:
      self._idle = [None]
    else:
      self._start_workers()

  def worker_pids(self) -> list[int]:
    """Process ids of the workers training a child now (tests kill them)."""
    return [w.process.pid for w in self._running]

  def _new_worker(self) -> _Process:
    return _Process(self._context, self._config_text, self._threads)

  def _start(self, worker, job: Job) -> None:
    if self._inline:
      return
    try:
      worker.conn.send(job)
    except OSError:
      pass  # it died idle: `_wait` sees its end and the child is retried

  def _wait(self, workers, timeout):
    if self._inline:
      (worker,) = workers
      _, arc_text, seed = self._running[worker].job
      return [(worker, "done",
               self._task.evaluate(self._task.parse(arc_text), seed))]
    by_handle = {}
    for worker in workers:
      by_handle[worker.conn] = worker
      by_handle[worker.process.sentinel] = worker
    events, seen = [], set()
    for handle in connection.wait(list(by_handle), timeout):
      worker = by_handle[handle]
      if id(worker) in seen:
        continue
      seen.add(id(worker))
      try:
        if worker.conn.poll():
          events.append((worker, "done", worker.conn.recv()[1]))
          continue
      except (EOFError, OSError):
        pass
      worker.process.join(timeout=5)
      events.append((worker, "lost",
                     f"worker process ended with code "
                     f"{worker.process.exitcode}"))
    return events

  def _kill(self, worker) -> None:
    if worker is None:
      return
    worker.conn.close()
    worker.process.kill()
    worker.process.join(timeout=5)

  def close(self) -> None:
    if self._inline:
      return
    for worker in self._idle:  # idle workers end cleanly on EOF
      worker.conn.close()
    for worker in self._idle:
      worker.process.join(timeout=5)
      if worker.process.is_alive():
        worker.process.kill()
    self._idle = []
    super().close()
