"""Specification of `enas.heap`: returning freed memory after a compile."""

import platform

import pytest

from enas import heap


@pytest.mark.skipif(platform.system() != "Linux" or
                    platform.libc_ver()[0] != "glibc",
                    reason="malloc_trim is glibc's")
def test_glibc_trims_the_heap():
  blocks = [bytearray(4096) for _ in range(20000)]  # heap, not mmap
  del blocks[::2]
  assert heap.release_free_memory() is True


def test_a_wrapped_function_releases_memory_after_its_first_call_only(
    monkeypatch):
  released = []
  monkeypatch.setattr(heap, "release_free_memory",
                      lambda: released.append(1) or True)
  double = heap.release_after_first_call(lambda x: 2 * x)
  assert [double(1), double(2), double(3)] == [2, 4, 6]
  assert released == [1]
