"""Writes that a kill never leaves half done, and the test hook on each.

Every whole-file write goes to a temporary file in the same directory, is
flushed to disk and moved into place with `os.replace` (the directory is
then synced), so a reader sees the old or the new file, never a truncated
one. Logs grow by `append_line`, one line forced to disk per call; a kill
can at worst leave that one line torn, which readers skip.

Because every durable write is one of these two calls, a run killed at any
moment is in the same state as one stopped just before some write. The
crash tests use that: `set_write_hook` runs a function before each durable
write (it may raise to simulate the kill in-process), and the environment
variable ``RLNAS_KILL_AT_WRITE=k`` sends SIGKILL to the process just before
its k-th durable write (a real kill -9 at a chosen point).
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
from typing import Any, Callable, Optional

KILL_ENV = "RLNAS_KILL_AT_WRITE"

_hook: Optional[Callable[[int, str], None]] = None
_writes = 0


def set_write_hook(hook: Optional[Callable[[int, str], None]]) -> None:
  """Calls ``hook(k, path)`` before the k-th durable write from now (tests)."""
  global _hook, _writes
  _hook, _writes = hook, 0


def _before_write(path: str) -> None:
  global _writes
  _writes += 1
  if _hook is not None:
    _hook(_writes, path)
  kill_at = os.environ.get(KILL_ENV)
  if kill_at and kill_at.isdigit() and int(kill_at) == _writes:
    os.kill(os.getpid(), signal.SIGKILL)


def _sync_directory(directory: str) -> None:
  try:
    fd = os.open(directory, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


def atomic_write_bytes(path: str, data: bytes) -> None:
  """Writes `data` to `path` so that readers see the old or the new file."""
  _before_write(path)
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  _sync_directory(directory)


def atomic_write_json(path: str, value: Any) -> None:
  atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True)
                            + "\n").encode())


def append_line(path: str, line: str) -> None:
  """Appends `line` (no newline) and a newline to `path`, forced to disk."""
  _before_write(path)
  with open(path, "a") as f:
    f.write(line + "\n")
    f.flush()
    os.fsync(f.fileno())
