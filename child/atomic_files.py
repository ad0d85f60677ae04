"""Whole-file writes that a kill never leaves half done.

Every write goes to a temporary file in the same directory, is flushed to disk
and moved into place with `os.replace`, so a reader sees the old or the new
file, never a truncated one.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def atomic_write_bytes(path: str, data: bytes) -> None:
  """Writes `data` to `path` so that readers see the old or the new file."""
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


def atomic_write_json(path: str, value: Any) -> None:
  atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True)
                            + "\n").encode())
