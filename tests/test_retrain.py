"""The search's result retrained from scratch after the search (`runner.retrain`)."""

import json
import types

import gin
import pytest

from controller import errors
from runner import retrain
from runner import run_dir as run_dir_lib
from runner import tasks

BEST = {"arc": "1 2 3", "space": "stand_in", "reward": 0.6,
        "phase": "shared_weights"}


class StandInTask:
  """A task that records what it was asked to retrain."""

  trained = []

  def __init__(self):
    self.space = types.SimpleNamespace(name="stand_in")

  def parse(self, text):
    return text.split()

  def evaluate(self, arc, seed, final_dir=None):
    StandInTask.trained.append((arc, seed, final_dir))
    return {"status": "ok", "reward": None, "test_accuracy": 0.84,
            "seconds": 1.0, "error": ""}


@pytest.fixture(name="search_config")
def fixture_search_config(monkeypatch):
  """A search's gin config whose retraining picks the stand-in by name."""
  monkeypatch.setitem(tasks._TASKS, "stand_in", ("test_retrain", "StandInTask"))  # pylint: disable=protected-access
  StandInTask.trained = []
  gin.clear_config()
  gin.parse_config(["import runner.retrain", "import runner.tasks",
                    "Retrain.enabled = True",
                    "Retrain.gin_bindings = [\"make_task.task = 'stand_in'\"]",
                    "Retrain.longer_gin_bindings = ['x.epochs = 10']"])
  yield
  gin.clear_config()


def test_the_result_is_retrained_by_the_task_the_retraining_config_names(
    tmp_path, search_config):
  del search_config
  run = run_dir_lib.RunDir(str(tmp_path))
  done = retrain.retrain_after_search(run, BEST, seed=3, log=lambda _: None)
  assert StandInTask.trained == [(["1", "2", "3"], 3,
                                  str(tmp_path / "retrained"))]
  saved = json.loads((tmp_path / "retrained" / "result.json").read_text())
  assert saved == done.record
  assert saved["phase"] == "retrained_from_scratch" != BEST["phase"]
  assert (saved["arc"], saved["seed"], saved["test_accuracy"]) == ("1 2 3", 3, 0.84)
  assert done.longer and done.longer_gin_bindings == ("x.epochs = 10",)
  # The search's configuration is back (the task name was the retraining's).
  assert gin.query_parameter("Retrain.enabled") is True
  with pytest.raises(ValueError):
    gin.query_parameter("make_task.task")
  # A finished search resumed again reuses the retraining.
  again = retrain.retrain_after_search(run, BEST, seed=3, log=lambda _: None)
  assert again.reused and again.record == done.record
  assert len(StandInTask.trained) == 1


def test_nothing_is_retrained_when_off_or_without_a_result(tmp_path,
                                                           search_config):
  del search_config
  run = run_dir_lib.RunDir(str(tmp_path))
  assert retrain.retrain_after_search(run, {}, seed=0) is None
  with gin.unlock_config():
    gin.bind_parameter("Retrain.enabled", False)
  assert retrain.retrain_after_search(run, BEST, seed=0) is None
  assert StandInTask.trained == []


def test_a_missing_retraining_gin_file_is_a_config_error():
  with pytest.raises(errors.ConfigError, match="no_such.gin"):
    retrain.Retrain(enabled=True, gin_files=["gin/no_such.gin"])
  with pytest.raises(errors.ConfigError, match="list of strings"):
    retrain.Retrain(gin_files="gin/quickstart.gin")
