"""A final-training task as a search child: the reward is its validation score."""

import pytest

from runner import final_reward


class _Task:
  space = "space"

  def __init__(self, record):
    self.record = record
    self.calls = []

  def parse(self, text):
    return f"parsed {text}"

  def evaluate(self, arc, seed, final_dir=None):
    self.calls.append((arc, seed, final_dir))
    return dict(self.record)


@pytest.mark.parametrize("record, reward", [
    ({"status": "ok", "valid_accuracy": 0.83, "test_accuracy": 0.8}, 0.83),
    ({"status": "ok", "valid_ppl": 160.0, "test_ppl": 150.0}, final_reward.REWARD_C / 160.0),
    ({"status": "failed", "valid_accuracy": None}, 0.0),
    ({"status": "ok"}, 0.0),
])
def test_the_reward_is_the_validation_score(record, reward):
  task = _Task(record)
  child = final_reward.ValidationReward(task)
  out = child.evaluate(child.parse("1 2"), 7)
  assert out["reward"] == pytest.approx(reward)
  assert task.calls == [("parsed 1 2", 7, None)]
  assert child.space == "space"
  assert {k: v for k, v in out.items() if k != "reward"} == record
