"""Returns freed heap memory to the operating system after a compile.

TensorFlow optimises a compiled function's graph the first time it runs. The
optimiser's scratch memory is freed afterwards, but glibc keeps freed heap
pages resident when live allocations sit between them, so a process's
resident memory (RSS) stays at the compile's high-water mark for good. Over
the ENAS micro search step that is about 0.25 GB of RSS that nothing uses
(measured in experiments/RESULTS.md). ``malloc_trim(0)`` hands such pages
back; it frees nothing in use and costs a few milliseconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any, Callable


@functools.lru_cache(maxsize=1)
def _malloc_trim():
  name = ctypes.util.find_library("c")
  if name is None:
    return None
  try:
    return ctypes.CDLL(name).malloc_trim
  except (OSError, AttributeError):  # not glibc (e.g. musl, macOS)
    return None


def release_free_memory() -> bool:
  """Asks the C allocator to return free heap pages; False if it cannot."""
  trim = _malloc_trim()
  if trim is None:
    return False
  trim(0)
  return True


def release_after_first_call(fn: Callable[..., Any]) -> Callable[..., Any]:
  """`fn` (a compiled function) that frees free heap after its first run."""
  first = [True]

  @functools.wraps(fn)
  def call(*args, **kwargs):
    out = fn(*args, **kwargs)
    if first[0]:
      first[0] = False
      release_free_memory()
    return out

  return call
