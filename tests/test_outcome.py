"""Specification of the child record and the never-raise wrapper.

Zoph & Le 2017 §3.2 / Pham et al. 2018 §3: one worker trains many children,
so a child that diverges or raises is a failed record with reward 0, never a
crash.
"""

import json
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # pylint: disable=g-import-not-at-top

from child import outcome


def _trains_ok(measured):
  measured["params"] = 1234
  measured["valid_accuracies"] = [0.5, 0.75]
  measured["valid_accuracy"] = 0.75
  measured["reward"] = 0.75 ** 3
  return ""


def test_a_trainer_that_finishes_gives_an_ok_outcome_of_what_it_measured():
  result = outcome.run_guarded(_trains_ok)
  assert result.status == outcome.OK and result.ok
  assert result.error == ""
  assert result.reward == pytest.approx(0.75 ** 3)
  assert result.valid_accuracy == 0.75
  assert result.valid_accuracies == (0.5, 0.75)
  assert result.params == 1234
  assert result.seconds >= 0.0


def test_a_trainer_that_raises_gives_a_failed_outcome_with_what_it_had_measured():
  def train(measured):
    measured["params"] = 99
    measured["train_losses"] = [2.5]
    measured["valid_ppl"] = 12.0
    measured["reward"] = 0.5
    raise ValueError("the kernel is too large\nand a traceback follows")

  result = outcome.run_guarded(train)
  assert result.status == outcome.FAILED and not result.ok
  assert result.reward == 0.0
  assert result.error == "ValueError: the kernel is too large"
  assert result.params == 99
  assert result.train_losses == (2.5,)
  assert result.valid_ppl is None  # a failed child has no score


def test_a_trainer_that_returns_an_error_line_fails_with_that_line_as_is():
  def train(measured):
    measured["valid_accuracies"] = []
    return "non-finite loss at epoch 1"

  result = outcome.run_guarded(train)
  assert result.status == outcome.FAILED
  assert result.error == "non-finite loss at epoch 1"
  assert result.valid_accuracies == ()
  assert result.params == 0  # never built


def test_the_error_is_one_line_of_at_most_300_characters():
  def train(measured):
    raise RuntimeError("x" * 1000)

  error = outcome.run_guarded(train).error
  assert error.startswith("RuntimeError: x") and len(error) == 300
  assert outcome.one_line(KeyError()) == "KeyError"


def test_a_measurement_that_is_no_field_of_the_record_fails_the_child():
  result = outcome.run_guarded(lambda measured: measured.update(acuracy=1.0))
  assert result.status == outcome.FAILED and "acuracy" in result.error


def test_the_keras_session_is_cleared_after_every_child(monkeypatch):
  import keras  # pylint: disable=g-import-not-at-top
  cleared = []
  monkeypatch.setattr(keras.backend, "clear_session",
                      lambda *a, **k: cleared.append(True))
  outcome.run_guarded(_trains_ok)
  outcome.run_guarded(lambda measured: 1 / 0)
  assert cleared == [True, True]


def test_the_record_is_json_with_null_for_what_could_not_be_computed():
  result = outcome.Outcome(status=outcome.OK, reward=0.0, params=5,
                           seconds=1.0, valid_ppl=math.inf,
                           valid_ppls=(3.0, math.nan))
  record = result.to_record()
  assert record["valid_ppl"] is None and record["valid_ppls"] == [3.0, None]
  assert json.loads(json.dumps(record, allow_nan=False)) == record


def test_every_record_has_the_keys_callers_and_run_directories_read():
  record = outcome.run_guarded(_trains_ok).to_record()
  assert {"status", "reward", "valid_accuracy", "valid_accuracies",
          "test_accuracy", "valid_ppl", "test_ppl", "params",
          "params_without_aux", "train_losses", "seconds",
          "error"} <= set(record)
  assert record["valid_accuracies"] == [0.5, 0.75]
  assert record["test_ppl"] is None  # not measured


def test_a_trainer_without_a_reward_reports_none_until_it_fails():
  assert outcome.run_guarded(lambda measured: "").reward is None
  assert outcome.run_guarded(lambda measured: "diverged").reward == 0.0
