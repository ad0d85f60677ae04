"""Saves a trained final model twice: for Keras and for serving.

Beside ``result.json``, a final training writes

* ``model.keras``: the Keras archive (config + weights). It reloads with
  ``keras.models.load_model(path)`` once the module defining the model has
  been imported (the project's custom layers and models are registered under
  the package ``rlnas``: no ``custom_objects``). Written only for Keras models
  that have a config (every image model, the NAS tree-cell language model).
* ``vocab.txt`` (language models): line i is the word of id i, the ids the
  SavedModel reads and predicts.
* ``saved_model/``: a TensorFlow SavedModel whose ``serving_default``
  signature maps inputs to outputs with plain TensorFlow
  (``tf.saved_model.load(path).signatures['serving_default']``), no project
  code needed. Every final model has one.

Both writes are atomic: the file goes to a temporary name in the same
directory and is moved into place with `os.replace`; the SavedModel is
written to a temporary directory that is renamed into place (a replaced one
is first renamed aside, then deleted), so a reader never sees half a model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from typing import Any, Callable, Sequence

VOCAB_FILE = "vocab.txt"
"""A language model's vocabulary: line i is the word of id i."""

KERAS_FILE = "model.keras"
"""The Keras archive's name in a final run directory."""

SAVED_MODEL_DIR = "saved_model"
"""The SavedModel directory's name in a final run directory."""

Endpoint = tuple[Callable[..., Any], Sequence[Any]]
"""A serving function and its input signature (a list of `tf.TensorSpec`)."""


def _umask_mode(path: str, mode: int) -> None:
  """Gives `path` the permissions a plain open/mkdir would (temp files are private)."""
  os.chmod(path, mode & ~_umask())


def _umask() -> int:
  # Read without setting it where Linux shows it: os.umask sets it for every thread.
  try:
    with open("/proc/self/status", encoding="ascii") as f:
      for line in f:
        if line.startswith("Umask:"):
          return int(line.split()[1], 8)
  except (OSError, ValueError):
    pass
  umask = os.umask(0o022)
  os.umask(umask)
  return umask


def save_keras(model, directory: str) -> str:
  """Writes ``directory/model.keras`` atomically; returns its path."""
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, KERAS_FILE)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".keras")
  os.close(fd)
  try:
    model.save(tmp)
    _umask_mode(tmp, 0o666)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return path


def save_vocab(vocab: Sequence[str], directory: str) -> str:
  """Writes ``directory/vocab.txt`` atomically (line i: the word of id i)."""
  from child import atomic_files  # pylint: disable=g-import-not-at-top
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, VOCAB_FILE)
  atomic_files.atomic_write_bytes(path, "".join(w + "\n" for w in vocab).encode())
  return path


def _replace_directory(tmp: str, path: str) -> None:
  """Moves the finished directory `tmp` to `path`, replacing what is there."""
  old = None
  if os.path.lexists(path):
    old = tempfile.mkdtemp(dir=os.path.dirname(path), prefix=".old-")
    os.rename(path, os.path.join(old, "x"))
  os.rename(tmp, path)
  if old:
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _quiet_tensorflow_logs():
  """Hides TensorFlow's INFO lines about the SavedModel it writes."""
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  logger = logging.getLogger("tensorflow")
  level, verbosity = logger.level, absl_logging.get_verbosity()
  logger.setLevel(max(level, logging.WARNING))
  absl_logging.set_verbosity(min(verbosity, absl_logging.WARNING))
  try:
    yield
  finally:
    logger.setLevel(level)
    absl_logging.set_verbosity(verbosity)


def _write_directory(directory: str, write: Callable[[str], None]) -> str:
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, SAVED_MODEL_DIR)
  tmp = tempfile.mkdtemp(dir=directory, prefix=".tmp-saved_model-")
  try:
    with _quiet_tensorflow_logs():
      write(tmp)
    _umask_mode(tmp, 0o777)
    _replace_directory(tmp, path)
  finally:
    if os.path.exists(tmp):
      shutil.rmtree(tmp, ignore_errors=True)
  return path


def save_module_endpoints(variables: Sequence[Any], directory: str,
                          endpoints: dict[str, Endpoint]) -> str:
  """Writes ``directory/saved_model``: the endpoints and the variables they read.

  Only the variables and the traced functions are saved, not the model's
  Python structure, so any model works (a Keras model, a `tf.Module`).

  Args:
    variables: every variable the endpoints read (Keras or TF variables).
    directory: the run directory.
    endpoints: name -> (function, input signature); the first one is also
      the ``serving_default`` signature.

  Returns:
    The SavedModel's path.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def write(tmp):
    module = tf.Module()
    module.model_variables = list(variables)
    signatures = {}
    for name, (fn, signature) in endpoints.items():
      function = tf.function(fn, input_signature=list(signature))
      setattr(module, name, function)
      signatures[name] = function.get_concrete_function()
      signatures.setdefault("serving_default", signatures[name])
    tf.saved_model.save(module, tmp, signatures=signatures)

  return _write_directory(directory, write)


def export_keras_model(model, directory: str, endpoints: dict[str, Endpoint], *,
                       keras_file: bool = True) -> dict[str, str]:
  """Writes ``model.keras`` (with `keras_file`) and ``saved_model/`` of a Keras model.

  The endpoints call the model (e.g. ``model(x, training=False)``); they are
  traced when saving, and only the model's variables are kept with them.

  Returns:
    ``{'keras': path, 'saved_model': path}`` of what was written.
  """
  paths = {"saved_model": save_module_endpoints(model.variables, directory,
                                                endpoints)}
  if keras_file:
    paths["keras"] = save_keras(model, directory)
  return paths
