"""A final-training task as a search child: random search from scratch over the ENAS spaces.

Random search from scratch (RS; Li & Talwalkar 2019 §4; the control of
Pham et al. 2018) trains each sampled architecture on its own and keeps the
best by validation score. For the ENAS spaces the one from-scratch trainer
is the final-training task (`enas.image.final_task`,
`enas.recurrent.final_task`), which measures validation and test but gives
no reward; `ValidationReward` adds one, so the NAS evaluator
(`runner.from_scratch.FromScratch`) and the one loop run it unchanged
(``make_experiment.mode = 'final_from_scratch'``).
"""

from __future__ import annotations

from typing import Any

REWARD_C = 80.0
"""Perplexity reward c / valid_ppl (Pham et al. §3.1; the official code's 80)."""


class ValidationReward:
  """Wraps a task whose records have no reward; reward = validation score.

  Accuracy tasks: reward = ``valid_accuracy``; language models: reward =
  ``REWARD_C / valid_ppl``. A failed child (no score) gets 0.
  """

  def __init__(self, task):
    self.task = task
    self.space = task.space

  def parse(self, text: str):
    return self.task.parse(text)

  def describe(self, arc):
    describe = getattr(self.task, "describe", None)
    return describe(arc) if describe else None

  def evaluate(self, arc, seed: int, final_dir: str | None = None
               ) -> dict[str, Any]:
    record = dict(self.task.evaluate(arc, seed, final_dir=final_dir))
    record["reward"] = reward_of(record)
    return record


def reward_of(record: dict[str, Any]) -> float:
  """The validation reward of a final-training record (0 when it failed)."""
  if record.get("status") != "ok":
    return 0.0
  if record.get("valid_accuracy") is not None:
    return float(record["valid_accuracy"])
  if record.get("valid_ppl"):
    return REWARD_C / float(record["valid_ppl"])
  return 0.0
