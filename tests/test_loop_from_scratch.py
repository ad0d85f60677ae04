"""The search loop with the from-scratch evaluator (NAS, Zoph & Le §3.2): every finished child kept exactly once."""

import json

import gin
import pytest

from child.nas_cnn import space as nas_cnn_space
from child.nas_cnn import task as nas_cnn_task
from controller import errors
from controller import strategy as strategy_lib
from runner import from_scratch
from runner import loop
from runner import run_dir as run_dir_lib
from runner import tasks


class CountingTask:
  """A stand-in child: reward = fraction of skip bits on; counts trainings."""

  def __init__(self):
    self.space = nas_cnn_space.nas_cnn_space(num_layers=4)
    self.trained = []

  def parse(self, text):
    return self.space.parse(text)

  def evaluate(self, arc, seed):
    self.trained.append(arc.to_string())
    bits = [b for k, v in arc.values().items() if k.endswith("inputs")
            for b in v]
    return {"status": "ok", "reward": sum(bits) / len(bits),
            "valid_accuracy": 0.5, "params": 1, "seconds": 0.0, "error": ""}


class GrowingTask(CountingTask):
  """The stand-in with the layered spaces of a depth schedule."""

  def space_with_layers(self, num_layers):
    return nas_cnn_space.nas_cnn_space(num_layers=num_layers)

  def parse(self, text):
    for layers in range(1, 5):
      space = self.space_with_layers(layers)
      if space.num_tokens == len(text.split()):
        return space.parse(text)
    raise ValueError(text)


class Killed(Exception):
  pass


def _installed(monkeypatch, task):
  """Makes `task` the one `make_task` builds, with a clean gin config."""
  monkeypatch.setattr(tasks, "make_task", lambda: task)
  gin.clear_config()
  yield task
  gin.clear_config()


@pytest.fixture(name="task")
def fixture_task(monkeypatch):
  yield from _installed(monkeypatch, CountingTask())


def run(path, seed=0, log=print, **schedule):
  """12 children, 4 per controller update, trained in this process."""
  path.mkdir(exist_ok=True)
  evaluator = from_scratch.FromScratch("", **schedule)
  strategy = strategy_lib.make_strategy(evaluator.space, seed)
  return loop.run_search(
      run_dir_lib.RunDir(str(path)), strategy, evaluator,
      loop.SearchBudget(rounds=3, samples_per_update=4), seed, log=log)


def kill_after(n):
  seen = []

  def log(line):
    if line.startswith("child"):
      seen.append(line)
      if len(seen) == n:
        raise Killed()
  return log


def test_a_run_killed_mid_step_resumes_without_losing_or_repeating_children(
    tmp_path, task):
  with pytest.raises(Killed):
    run(tmp_path, log=kill_after(6))   # after update 0 and half of step 1
  assert len(run_dir_lib.RunDir(str(tmp_path)).children()) == 6
  before = list(task.trained)
  best = run(tmp_path)
  records = run_dir_lib.RunDir(str(tmp_path)).children()
  assert sorted(r["index"] for r in records) == list(range(12))
  assert len(task.trained) == 12          # the 6 finished were not retrained
  assert task.trained[:6] == before
  assert best["reward"] == max(r["reward"] for r in records)


def test_a_resumed_run_matches_an_uninterrupted_one(tmp_path, task):
  del task
  with pytest.raises(Killed):
    run(tmp_path / "a", log=kill_after(9))
  run(tmp_path / "a")
  run(tmp_path / "b")
  arcs = lambda p: [(r["index"], r["arc"]) for r in sorted(
      run_dir_lib.RunDir(str(p)).children(), key=lambda r: r["index"])]
  assert arcs(tmp_path / "a") == arcs(tmp_path / "b")


def test_a_torn_last_line_is_dropped_not_fatal(tmp_path, task):
  del task
  with pytest.raises(Killed):
    run(tmp_path, log=kill_after(5))
  with open(tmp_path / "architectures.jsonl", "a") as f:
    f.write('{"index": 99, "rew')          # a write cut by the kill
  run(tmp_path)
  records = run_dir_lib.RunDir(str(tmp_path)).children()
  assert sorted(r["index"] for r in records) == list(range(12))


def test_best_json_holds_the_best_child(tmp_path, task):
  del task
  run(tmp_path)
  best = json.loads((tmp_path / "best.json").read_text())
  records = run_dir_lib.RunDir(str(tmp_path)).children()
  assert best["reward"] == max(r["reward"] for r in records)
  assert best["arc"] in {r["arc"] for r in records}


def test_prepare_refuses_an_existing_run(tmp_path):
  (tmp_path / "best.json").write_text("{}")
  with pytest.raises(run_dir_lib.RunDirError, match="already exists"):
    run_dir_lib.prepare(str(tmp_path), resume=False, overwrite=False)
  assert (tmp_path / "best.json").read_text() == "{}"


def test_atomic_write_leaves_the_old_file_when_it_fails(tmp_path):
  path = tmp_path / "best.json"
  run_dir_lib.atomic_write_json(str(path), {"reward": 1})
  with pytest.raises(TypeError):
    run_dir_lib.atomic_write_json(str(path), {"reward": object()})
  assert json.loads(path.read_text()) == {"reward": 1}
  assert [p.name for p in tmp_path.iterdir()] == ["best.json"]


# ------------------------------------------------- depth schedule (§4.1)
def test_the_paper_schedule_adds_two_layers_every_1600_children():
  depth = lambda first: from_scratch.layers_at(first, 6, 2, 1600, 15)
  assert [depth(i) for i in (0, 1599, 1600, 3200, 4800, 6400)] == [
      6, 6, 8, 10, 12, 14]
  assert depth(100_000) == 15  # never deeper than the space


GROW = dict(grow_from_layers=2, grow_by_layers=1, grow_every=4)


@pytest.fixture(name="growing")
def fixture_growing(monkeypatch):
  yield from _installed(monkeypatch, GrowingTask())


def test_children_grow_deeper_on_schedule_and_the_controller_learns_on(
    tmp_path, growing):
  lines = []
  best = run(tmp_path, log=lines.append, **GROW)
  records = sorted(run_dir_lib.RunDir(str(tmp_path)).children(),
                   key=lambda r: r["index"])
  depths = [r["num_layers"] for r in records]
  assert depths == [2] * 4 + [3] * 4 + [4] * 4
  for record in records:  # each string really has its depth's length
    arc = growing.parse(record["arc"])
    assert arc.space.meta("num_layers") == record["num_layers"]
  assert [line.split("layers ")[1].split()[0] for line in lines
          if line.startswith("update")] == ["2", "3", "4"]
  assert best["num_layers"] == next(r["num_layers"] for r in records
                                    if r["arc"] == best["arc"])


def test_a_growing_run_resumes_at_the_depth_it_had_reached(tmp_path, growing):
  del growing
  with pytest.raises(Killed):
    run(tmp_path / "a", log=kill_after(6), **GROW)
  run(tmp_path / "a", **GROW)
  run(tmp_path / "b", **GROW)
  arcs = lambda p: [(r["index"], r["arc"], r["num_layers"]) for r in sorted(
      run_dir_lib.RunDir(str(p)).children(), key=lambda r: r["index"])]
  assert arcs(tmp_path / "a") == arcs(tmp_path / "b")


def test_a_task_without_layers_cannot_grow(tmp_path, task):
  del task
  with pytest.raises(errors.ConfigError, match="layered space"):
    run(tmp_path, **GROW)


def test_a_schedule_deeper_than_the_space_is_refused(tmp_path, growing):
  del growing
  with pytest.raises(errors.ConfigError, match="grow_from_layers"):
    run(tmp_path, grow_from_layers=9)


def test_the_image_task_parses_children_of_any_depth_up_to_its_own():
  gin.clear_config()
  task = nas_cnn_task.ImageClassificationTask()  # 6 layers; no data is loaded
  three = task.space_with_layers(3)
  text = strategy_lib.RandomSearch(three, seed=1).ask(1)[0].arc
  assert task.parse(text.to_string()).space.meta("num_layers") == 3
  with pytest.raises(ValueError, match="expected 33 integers, got 4"):
    task.parse("1 2 3 4")  # no depth has 4 tokens


def test_a_tiny_reward_is_printed_with_its_significant_figures():
  # Zoph & Le's PTB reward 80 / ppl^2 is about 1e-4; four decimals would show 0.0000.
  line = loop.describe_record({"status": "ok", "reward": 80 / 767.5 ** 2,
                               "valid_ppl": 767.5})
  assert "reward 0.0001358" in line
