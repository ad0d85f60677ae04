"""Worker pools (`runner.workers`): a lost child is retried once, a hung one times out.

The children are `engine_stand_ins.StandInTask`s on spawned local processes
(no TensorFlow in the workers), so each test costs a few process starts.
"""

import os
import signal

import gin
import pytest

import engine_stand_ins
from controller import errors
from controller import strategy as strategy_lib
from runner import from_scratch
from runner import loop
from runner import run_dir as run_dir_lib
from runner import workers


@pytest.fixture(autouse=True)
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def search(path, config, **evaluator_args):
  """4 children, 2 per controller update, on 2 worker processes."""
  path.mkdir(exist_ok=True)
  evaluator = from_scratch.FromScratch(
      config, task=engine_stand_ins.StandInTask(), num_workers=2,
      **evaluator_args)
  strategy = strategy_lib.RandomSearch(evaluator.space, seed=0)
  loop.run_search(run_dir_lib.RunDir(str(path)), strategy, evaluator,
                  loop.SearchBudget(rounds=2, samples_per_update=2), 0,
                  log=lambda line: None)
  return sorted(run_dir_lib.RunDir(str(path)).children(),
                key=lambda r: r["index"])


def test_a_worker_killed_mid_child_is_retried_and_the_search_completes(
    tmp_path):
  config = engine_stand_ins.config_text(tmp_path, die_times=1)
  records = search(tmp_path / "run", config)
  assert [r["index"] for r in records] == [0, 1, 2, 3]
  assert all(r["status"] == "ok" for r in records), records
  assert sorted(r["attempts"] for r in records) == [1, 1, 1, 2]
  assert (tmp_path / "die.0").exists()  # a worker really died


def test_a_worker_process_killed_from_outside_has_its_child_retried(tmp_path):
  pool = workers.LocalPool(2, engine_stand_ins.config_text(tmp_path,
                                                           seconds=0.5))
  try:
    pool.submit(7, "2 2 2", 0)
    (pid,) = pool.worker_pids()  # the worker given child 7
    os.kill(pid, signal.SIGKILL)
    result = None
    while result is None:
      result = pool.next_result(1.0)
  finally:
    pool.close()
  key, record = result
  assert key == 7 and record["status"] == "ok" and record["attempts"] == 2
  assert pool.replaced == 1


def test_a_worker_that_died_idle_is_replaced_when_given_a_child(tmp_path):
  pool = workers.LocalPool(2, engine_stand_ins.config_text(tmp_path))
  try:
    for worker in pool._idle:  # pylint: disable=protected-access
      worker.process.kill()
      worker.process.join()
    results = dict(pool.run([(0, "1 1 1", 0), (1, "2 2 2", 1)]))
  finally:
    pool.close()
  assert [results[k]["status"] for k in (0, 1)] == ["ok", "ok"]
  assert [results[k]["attempts"] for k in (0, 1)] == [2, 2]


def test_a_child_lost_twice_is_recorded_as_failed_and_the_others_finish(
    tmp_path):
  pool = workers.LocalPool(
      2, engine_stand_ins.config_text(tmp_path, die_on="1 2 3"))
  try:
    results = dict(pool.run([(0, "0 0 0", 0), (1, "1 2 3", 1),
                             (2, "0 0 0", 2)]))
  finally:
    pool.close()
  assert sorted(results) == [0, 1, 2]
  assert results[1]["status"] == "failed" and results[1]["reward"] == 0.0
  assert results[1]["attempts"] == 2
  assert results[1]["error"].startswith("worker lost on every attempt")
  assert "\n" not in results[1]["error"]
  assert results[0]["status"] == results[2]["status"] == "ok"
  assert pool.replaced == 2


def test_a_child_hung_past_the_timeout_is_failed_and_its_worker_replaced(
    tmp_path):
  pool = workers.LocalPool(
      2, engine_stand_ins.config_text(tmp_path, hang_times=1),
      child_timeout_seconds=3.0)
  try:
    results = dict(pool.run([(k, "3 3 3", k) for k in range(4)]))
  finally:
    pool.close()
  statuses = sorted(r["status"] for r in results.values())
  assert statuses == ["failed", "ok", "ok", "ok"], results
  (hung,) = [r for r in results.values() if r["status"] == "failed"]
  assert "timed out after 3s" in hung["error"] and hung["reward"] == 0.0
  assert pool.replaced == 1
  assert all(r["reward"] == 1.0 for r in results.values() if r is not hung)


def test_next_result_returns_none_when_its_wait_times_out(tmp_path):
  pool = workers.LocalPool(
      2, engine_stand_ins.config_text(tmp_path, seconds=30.0))
  try:
    assert pool.next_result(0.1) is None  # nothing submitted
    pool.submit(0, "0 0 0", 0)
    assert pool.next_result(0.2) is None  # still training
    assert pool.busy() == 1
  finally:
    pool.close()


def test_a_timeout_must_be_positive():
  with pytest.raises(errors.ConfigError, match="child_timeout_seconds"):
    workers.LocalPool(1, "", child_timeout_seconds=0)
