"""TensorBoard scalars of a training's epochs, for whoever asked for them.

A final training (ENAS §3.2 retraining, the NAS child trainer with a test
set, a language model) calls `epoch` once per epoch with what it measured.
The call writes only inside a `writing` block (`runner.tensorboard.
evaluate_logged` opens one under the training's output directory); anywhere
else (children of a search, tests) it does nothing, so the trainers need no
output directory and no switch::

  with summaries.writing("runs/x/retrained/tensorboard"):
    task.evaluate(arc, seed, final_dir="runs/x/retrained")

Tags are ``final/<name>`` (``final/train_loss``, ``final/valid_accuracy``,
``final/valid_ppl``, ``final/lr``) plus ``final/seconds``, the wall time of
the epoch; the step is the 1-based epoch.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

PREFIX = "final"


class EpochWriter:
  """A TensorBoard file writer that times the epochs it is told of."""

  def __init__(self, logdir: str):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self.logdir = logdir
    self.writer = tf.summary.create_file_writer(logdir)
    self._last = time.monotonic()

  def epoch(self, number: int, scalars: dict[str, float | None]) -> None:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    now = time.monotonic()
    values = dict(scalars, seconds=now - self._last)
    self._last = now
    with self.writer.as_default():
      for name, value in values.items():
        if value is not None:
          tf.summary.scalar(f"{PREFIX}/{name}", float(value), step=number)
    self.writer.flush()

  def close(self) -> None:
    self.writer.close()


_ACTIVE: list[EpochWriter] = []


@contextlib.contextmanager
def writing(logdir: str) -> Iterator[EpochWriter]:
  """Trainings inside the block write their epochs' scalars to `logdir`."""
  writer = EpochWriter(logdir)
  _ACTIVE.append(writer)
  try:
    yield writer
  finally:
    _ACTIVE.remove(writer)
    writer.close()


def epoch(number: int, **scalars: float | None) -> None:
  """Logs one epoch's scalars (None ones skipped) in the innermost `writing`
  block; does nothing outside one.

  Args:
    number: the epoch, from 1.
    **scalars: e.g. ``train_loss``, ``valid_accuracy``, ``valid_ppl``, ``lr``.
  """
  if _ACTIVE:
    _ACTIVE[-1].epoch(number, scalars)
