"""Importing TensorFlow without its C++ runtime's start-up messages.

TensorFlow's C++ runtime prints banners (oneDNN, absl) on stderr that no
environment variable silences, and the GPU build's first look for GPUs (Keras
makes one on import) initialises the CUDA platform, which on a machine
without a GPU logs a failed ``cuInit``: an answer, not an error. A binary's
stderr, and a worker process's, should carry only the project's own lines.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def stderr_silenced():
  """Points file descriptor 2 at /dev/null (C++ runtime messages included)."""
  sys.stderr.flush()
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


def import_tensorflow() -> None:
  """Imports TensorFlow and looks for GPUs once, with stderr silenced.

  The CUDA platform is initialised once per process, so later looks (Keras,
  `tf.config`) print nothing. Physical devices only: the runtime is not
  started, so logical devices can still be configured. A failing import
  still raises its Python exception.
  """
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  with stderr_silenced():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.config.list_physical_devices("GPU")
