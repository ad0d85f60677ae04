"""Progress of long loops: a live one-line bar on a terminal, silence elsewhere.

A loop over minibatches, epochs, children or controller updates is wrapped
in `track`, a drop-in for its iterable::

  for step in progress.track(range(steps), "shared step"):
    ...

While stderr is a terminal, one line is redrawn in place (at most every
`MIN_INTERVAL` seconds): every loop still running, outermost first, each
with its count, rate and estimated time left::

  epoch 3/10 ETA 5m12s | shared step 120/352 5.3/s ETA 44s

When stderr is not a terminal (a log file, a pipe, a test, a worker
process), nothing is written at all: the loops' own summary lines (one per
round or epoch, which carry `pace` figures) are the record. Lines printed
while a bar is drawn go through `above_bars` so the bar does not garble them.
"""

from __future__ import annotations

import multiprocessing
import shutil
import sys
import time
from typing import Callable, Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")

MIN_INTERVAL = 0.2
"""Seconds between redraws of the bar."""


def format_duration(seconds: float | None) -> str:
  """``'45s'``, ``'12m05s'``, ``'3h07m'``, ``'2d04h'``; ``'?'`` if unknown."""
  if seconds is None or seconds != seconds or seconds < 0 or seconds == float("inf"):
    return "?"
  seconds = int(round(seconds))
  if seconds < 60:
    return f"{seconds}s"
  minutes, seconds = divmod(seconds, 60)
  if minutes < 60:
    return f"{minutes}m{seconds:02d}s"
  hours, minutes = divmod(minutes, 60)
  if hours < 24:
    return f"{hours}h{minutes:02d}m"
  days, hours = divmod(hours, 24)
  return f"{days}d{hours:02d}h"


def format_rate(done: float, seconds: float, unit: str = "") -> str:
  """Items per second, or seconds per item when slower than one a second.

  ``format_rate(30, 10) == '3.0/s'``; ``format_rate(2, 50, 'epoch') ==
  '25.0s/epoch'``; ``'?'`` before anything is done.
  """
  if done <= 0 or seconds <= 0:
    return "?"
  rate = done / seconds
  if rate >= 1:
    return f"{rate:.1f}/s"
  return f"{seconds / done:.1f}s/{unit or 'it'}"


def eta_seconds(done: float, total: float, seconds: float) -> float | None:
  """Seconds left at the mean pace so far (None before anything is done)."""
  if done <= 0 or seconds <= 0:
    return None
  return max(total - done, 0) * seconds / done


def pace(done: int, total: int, seconds: float, unit: str) -> str:
  """The rate and ETA of a summary line: ``'40.0s/epoch, ETA 4m00s'``.

  Args:
    done: items finished in `seconds` (this process's, not a resumed run's
      earlier ones).
    total: items still to do plus `done`.
    seconds: time taken by the `done` items.
    unit: the item's name ('epoch', 'update').
  """
  text = format_rate(done, seconds, unit)
  left = eta_seconds(done, total, seconds)
  if left is None:
    return text
  return f"{text}, ETA {format_duration(left)}" if left > 0 else text


class Bar:
  """One loop's counter; drawn with the others still running (see module doc).

  The rate leaves out the first item once a second one is done: the first
  step of a loop often pays for tracing and compiling.
  """

  def __init__(self, label: str, total: int | None, unit: str):
    self.label = label
    self.total = total
    self.unit = unit
    self.done = 0
    self.started = time.monotonic()
    self.first_done: float | None = None

  def advance(self) -> None:
    self.done += 1
    if self.done == 1:
      self.first_done = time.monotonic()

  def text(self, now: float) -> str:
    count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
    parts = [f"{self.label} {count}"]
    if self.done:
      done, seconds = self.done, now - self.started
      if done > 1:
        done, seconds = done - 1, now - self.first_done
      left = None if self.total is None else self.total - self.done
      parts.append(format_rate(done, seconds, self.unit))
      if left:
        parts.append(f"ETA {format_duration(eta_seconds(done, done + left, seconds))}")
    return " ".join(parts)


class _Display:
  """The bars of this process, innermost last, and the line they occupy."""

  def __init__(self):
    self.bars: list[Bar] = []
    self.stream: TextIO | None = None
    self.drawn = False
    self.last_draw = 0.0

  def draw(self, force: bool = False) -> None:
    now = time.monotonic()
    if self.stream is None or (not force and now - self.last_draw < MIN_INTERVAL):
      return
    self.last_draw = now
    if not self.bars:
      self.clear()
      return
    width = shutil.get_terminal_size((100, 20)).columns - 1
    line = " | ".join(bar.text(now) for bar in self.bars)[:width]
    self.stream.write("\r" + line + "\x1b[K")
    self.stream.flush()
    self.drawn = True

  def clear(self) -> None:
    if self.stream is not None and self.drawn:
      self.stream.write("\r\x1b[K")
      self.stream.flush()
    self.drawn = False


_DISPLAY = _Display()


def _live_stream() -> TextIO | None:
  """stderr if bars are drawn there: a terminal, in the main process."""
  stream = sys.stderr
  try:
    tty = stream.isatty()
  except (AttributeError, ValueError):
    return None
  if not tty or multiprocessing.parent_process() is not None:
    return None
  return stream


def track(iterable: Iterable[T], label: str, total: int | None = None,
          unit: str = "it") -> Iterator[T]:
  """Yields `iterable`'s items, drawing `label`'s bar while stderr is a tty.

  Args:
    iterable: the loop's items.
    label: what the loop counts ('epoch', 'shared step').
    total: the number of items (None: ``len(iterable)`` if it has one).
    unit: the item's name in a slow rate (``'12.0s/epoch'``).
  """
  stream = _live_stream()
  if stream is None:
    yield from iterable
    return
  if total is None:
    try:
      total = len(iterable)  # a tf.data.Dataset of unknown length raises
    except TypeError:
      total = None
  bar = Bar(label, total, unit)
  _DISPLAY.stream = stream
  _DISPLAY.bars.append(bar)
  try:
    _DISPLAY.draw(force=True)
    for item in iterable:
      yield item
      bar.advance()
      _DISPLAY.draw()
  finally:
    if bar in _DISPLAY.bars:
      _DISPLAY.bars.remove(bar)
    _DISPLAY.draw(force=True)


def reset() -> None:
  """Forgets every bar and clears its line (a loop left by an exception)."""
  _DISPLAY.bars.clear()
  _DISPLAY.clear()


def above_bars(log: Callable[[str], None]) -> Callable[[str], None]:
  """`log`, clearing the bar line before each line and redrawing it after."""

  def write(line: str) -> None:
    if _DISPLAY.drawn:
      _DISPLAY.clear()
    log(line)
    if _DISPLAY.bars:
      sys.stdout.flush()
      _DISPLAY.draw(force=True)

  return write


def print_line(line: str) -> None:
  """Prints `line` on stdout (flushed) above the bars."""
  above_bars(lambda text: print(text, flush=True))(line)
