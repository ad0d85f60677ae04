"""Ray workers (`runner.ray_pool.RayPool`): the same children, losses and hangs survived.

Ray runs on this machine here (``RayPool.address = None``); a cluster differs
only in where the actors live.
"""

import json

import os

import gin
import pytest

from controller import errors
from runner import ray_pool
from experiments import cli
from runner import from_scratch
import test_binaries

ray = pytest.importorskip("ray")  # a dev dependency: present in CI

# 2 layers, 1 epoch on 400 digits: a child trains in about 2 s.
ARC = "1 1 0 0 2 2 1 0 0"


def _records(path):
  with open(path / "architectures.jsonl") as f:
    return sorted((r["index"], r["arc"], r["reward"], r["valid_accuracy"],
                   r["status"]) for r in map(json.loads, f))


def test_ray_workers_train_the_same_children_as_the_local_process(tmp_path):
  one_update = ("SearchBudget.samples_per_update = 3", "SearchBudget.rounds = 2")
  local = test_binaries.search(tmp_path / "local", *one_update)
  remote = test_binaries.search(tmp_path / "ray", *one_update,
                                "FromScratch.backend = 'ray'",
                                "FromScratch.num_workers = 2")
  assert local.returncode == 0, local.stderr
  assert remote.returncode == 0, remote.stderr
  assert _records(tmp_path / "ray") == _records(tmp_path / "local")
  assert len(_records(tmp_path / "ray")) == 6


@pytest.fixture(name="pool", scope="module")
def fixture_pool():
  gin.clear_config()
  cli.parse_gin([os.path.join(test_binaries.REPO, "gin/nas/quickstart.gin")],
                test_binaries.DIGITS)
  pool = ray_pool.RayPool(2, gin.config_str())
  yield pool
  pool.close()
  gin.clear_config()


def test_a_child_that_raises_is_recorded_as_failed_and_work_goes_on(pool):
  results = dict(pool.run([(0, "1 2 x", 0), (1, ARC, 0), (2, ARC, 1)]))
  assert results[0]["status"] == "failed"
  assert "child raised on its worker" in results[0]["error"]
  assert results[1]["status"] == results[2]["status"] == "ok"


def test_a_child_of_a_worker_killed_mid_child_is_retried_on_a_fresh_one(
    pool):
  for slot in range(3):
    pool.submit(slot, ARC, slot)
  ray.kill(pool.actors[0].handle)  # busy with child 0 or 1
  results = {}
  while len(results) < 3:
    finished = pool.next_result(5.0)
    if finished is not None:
      results[finished[0]] = finished[1]
  assert sorted(results) == [0, 1, 2]
  assert all(r["status"] == "ok" for r in results.values()), results
  assert sorted(r["attempts"] for r in results.values()) == [1, 1, 2]
  assert pool.replaced == 1 and len(pool.actors) == 2


def test_a_child_past_the_timeout_is_failed_and_its_worker_replaced(pool):
  pool.child_timeout_seconds = 0.2  # shorter than any child
  try:
    results = dict(pool.run([(0, ARC, 0)]))
  finally:
    pool.child_timeout_seconds = None
  assert results[0]["status"] == "failed" and results[0]["reward"] == 0.0
  assert "timed out after 0.2s" in results[0]["error"]
  assert len(pool.actors) == 2


def test_an_unknown_backend_is_a_config_error():
  with pytest.raises(errors.ConfigError, match="'local' or 'ray'"):
    from_scratch.make_pool("slurm", 2, "")
