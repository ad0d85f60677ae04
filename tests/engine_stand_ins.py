"""A stand-in child task for the engine's specifications: no TensorFlow, no data.

Worker processes build it from the gin text ``import engine_stand_ins`` +
``make_task.task = 'stand_in'`` (this directory is on the path pytest hands
to spawned processes), so a test pays a process start, not a TensorFlow
import. Its reward is a fixed function of the tokens. It can end its own
process (a killed worker) or hang (a stuck child) on the first children it
is given, counted across processes with marker files.
"""

import os
import time

import gin

from controller import search_space as ss
from runner import tasks

SPACE = ss.SearchSpace("stand_in", tuple(
    ss.Categorical(f"choice_{i}", (0, 1, 2, 3), kind="choice")
    for i in range(3)))


def _first_time(marker: str) -> bool:
  """True for the first caller over every process (the marker is created)."""
  try:
    os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
    return True
  except FileExistsError:
    return False


@gin.configurable
class StandInTask:
  """reward = mean token / 3; optionally dies or hangs first.

  Attributes:
    marker_prefix: where the marker files go (a test's tmp_path).
    die_times: the first `die_times` children evaluated end their process.
    die_on: every child with this architecture text ends its process.
    hang_times: the next `hang_times` children sleep `hang_seconds`.
    seconds: every child's training time.
  """

  def __init__(self, marker_prefix: str = "", die_times: int = 0,
               die_on: str = "",
               hang_times: int = 0, hang_seconds: float = 60.0,
               seconds: float = 0.05):
    self.space = SPACE
    self._prefix = marker_prefix
    self._die = die_times
    self._die_on = die_on
    self._hang = hang_times
    self._hang_seconds = hang_seconds
    self._seconds = seconds

  def parse(self, text):
    return self.space.parse(text)

  def evaluate(self, arc, seed, final_dir=None):
    del seed, final_dir
    if arc.to_string() == self._die_on:
      os._exit(3)
    for i in range(self._die):
      if _first_time(f"{self._prefix}die.{i}"):
        os._exit(3)
    for i in range(self._hang):
      if _first_time(f"{self._prefix}hang.{i}"):
        time.sleep(self._hang_seconds)
    time.sleep(self._seconds)
    reward = sum(arc.tokens) / (3 * len(arc.tokens))
    return {"status": "ok", "reward": reward, "valid_accuracy": reward,
            "params": 1, "seconds": self._seconds, "error": ""}


def config_text(tmp_path, **settings) -> str:
  """The gin text workers parse to build a `StandInTask` with `settings`."""
  lines = ["import engine_stand_ins", "import runner.tasks",
           "make_task.task = 'stand_in'",
           f"StandInTask.marker_prefix = '{tmp_path}/'"]
  lines += [f"StandInTask.{k} = {v!r}" for k, v in settings.items()]
  return "\n".join(lines) + "\n"


tasks._TASKS["stand_in"] = (__name__, "StandInTask")  # pylint: disable=protected-access
