"""The asynchronous search loop (`runner.async_loop`, Zoph & Le §3.2).

Workers stay busy; the controller updates from each m children that finish;
each record carries its staleness. Children are `engine_stand_ins`
stand-ins (no TensorFlow in the workers).
"""

import collections

import gin
import pytest

import engine_stand_ins
from controller import errors
from controller import strategy as strategy_lib
from runner import from_scratch
from runner import loop
from runner import run_dir as run_dir_lib


class Killed(Exception):
  pass


@pytest.fixture(autouse=True)
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def search(path, config="", num_workers=1, log=None):
  """6 children, 2 per controller update, asynchronously."""
  path.mkdir(exist_ok=True)
  evaluator = from_scratch.FromScratch(
      config, task=engine_stand_ins.StandInTask(), num_workers=num_workers,
      asynchronous=True)
  strategy = strategy_lib.RandomSearch(evaluator.space, seed=0)
  best = loop.run_search(run_dir_lib.RunDir(str(path)), strategy, evaluator,
                         loop.SearchBudget(rounds=3, samples_per_update=2), 0,
                         log=log or (lambda line: None))
  run = run_dir_lib.RunDir(str(path))
  return best, run.children(), run.read_jsonl(loop.ROUNDS)


def test_two_workers_stay_busy_and_each_record_carries_its_staleness(tmp_path):
  best, records, rounds = search(
      tmp_path, engine_stand_ins.config_text(tmp_path), num_workers=2)
  assert sorted(r["index"] for r in records) == list(range(6))
  per_update = collections.Counter(r["controller_step"] for r in records)
  assert per_update == {0: 2, 1: 2, 2: 2}
  for record in records:
    assert record["status"] == "ok"
    assert record["staleness"] == (record["controller_step"]
                                   - record["sampled_at_step"]) >= 0
  # child 2 is sampled when the first child finishes, before update 0 is
  # made: three children come from step 0, update 0 takes two (whichever
  # finish first), so one of them is stale.
  by_index = {r["index"]: r for r in records}
  assert by_index[2]["sampled_at_step"] == 0
  assert max(r["staleness"] for r in records if r["sampled_at_step"] == 0) >= 1
  assert [r["round"] for r in rounds] == [0, 1, 2]
  assert max(r["max_staleness"] for r in rounds) >= 1
  assert all(r["asynchronous"] and r["seconds_waiting"] >= 0 for r in rounds)
  assert best["reward"] == max(r["reward"] for r in records)


def test_one_worker_is_never_stale(tmp_path):
  _, records, rounds = search(tmp_path)
  assert [r["staleness"] for r in records] == [0] * 6
  assert [r["mean_staleness"] for r in rounds] == [0.0] * 3


def test_a_resumed_run_keeps_committed_updates_and_resamples_the_rest(
    tmp_path):
  seen = []

  def kill_at_third_child(line):
    if line.startswith("child"):
      seen.append(line)
      if len(seen) == 3:  # update 0 committed, child 2 not yet used
        raise Killed()

  with pytest.raises(Killed):
    search(tmp_path, log=kill_at_third_child)
  before = run_dir_lib.RunDir(str(tmp_path)).children()
  assert len(before) == 3
  _, records, rounds = search(tmp_path)
  assert [r["round"] for r in rounds] == [0, 1, 2]
  assert sorted(r["index"] for r in records) == list(range(6))
  assert [r for r in records if r["round"] == 0] == before[:2]
  assert collections.Counter(r["controller_step"] for r in records) == {
      0: 2, 1: 2, 2: 2}


def test_asynchronous_children_cannot_grow_deeper_yet():
  with pytest.raises(errors.ConfigError, match="asynchronous"):
    from_scratch.FromScratch("", task=engine_stand_ins.StandInTask(),
                             asynchronous=True, grow_from_layers=2)
