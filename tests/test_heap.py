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
