"""What training one child gives, and the wrapper that makes training never raise.

Zoph & Le 2017, §3.2: each sampled child is trained and its validation score
becomes the controller's reward; Pham et al. 2018, §3.1-3.2, retrain derived
architectures from scratch and test them. Either way one worker trains many
children in sequence, so a child that diverges or raises must become a
result, not a crash: `run_guarded` turns any training function into an
`Outcome`, the one record type of every trainer (NAS CNN, NAS language
model, ENAS final image and recurrent models).

A training function ``train(measured) -> str`` writes what it measures into
the dict `measured`, under `Outcome` field names, as it goes (params first,
then per-epoch lists), and returns '' when the child trained or one line
saying why it failed (e.g. ``"non-finite loss at epoch 3"``). An exception
fails the child too, with the line ``"TypeName: first line of the message"``.
A failed child scores nothing (reward 0, no accuracy or perplexity) but keeps
what it measured along the way.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Optional

OK = "ok"
FAILED = "failed"
MAX_ERROR_CHARS = 300

# What a failed child does not get to keep: its scores.
_SCORES = ("valid_accuracy", "test_accuracy", "valid_ppl", "test_ppl")


@dataclasses.dataclass(frozen=True)
class Outcome:
  """The outcome of training one child.

  Attributes:
    status: `OK` or `FAILED`.
    reward: the controller's reward (Zoph & Le §3.2, §3.4); 0.0 when failed,
      None when the trainer gives none (final training).
    params: trainable parameters (0 if the child was never built).
    seconds: wall-clock time of the whole call.
    error: one line saying why the child failed; '' when ok.
    valid_accuracy: the validation accuracy the trainer reports.
    valid_accuracies: validation accuracy after each epoch.
    test_accuracy: accuracy on the test set.
    valid_ppl: validation perplexity.
    valid_ppls: validation perplexity after each epoch.
    test_ppl: test perplexity.
    train_losses: mean training loss of each epoch.
    params_without_aux: parameters without the auxiliary head (ENAS micro).
    asgd_start_epoch: 1-based epoch after which weight averaging began.
    flops: multiply-adds of one forward pass, per example or per token (the
      family's ``cost``; `runner.objective`).
    latency: median seconds of one forward pass of a batch on this machine
      (`child.latency`), when measured.
  """

  status: str
  reward: Optional[float]
  params: int
  seconds: float
  error: str = ""
  valid_accuracy: Optional[float] = None
  valid_accuracies: Optional[tuple[float, ...]] = None
  test_accuracy: Optional[float] = None
  valid_ppl: Optional[float] = None
  valid_ppls: Optional[tuple[float, ...]] = None
  test_ppl: Optional[float] = None
  train_losses: Optional[tuple[float, ...]] = None
  params_without_aux: Optional[int] = None
  asgd_start_epoch: Optional[int] = None
  flops: Optional[int] = None
  latency: Optional[float] = None

  @property
  def ok(self) -> bool:
    return self.status == OK

  def to_record(self) -> dict[str, Any]:
    """The JSON-able dict: every field, lists for tuples, None for inf / NaN."""
    record = {field.name: getattr(self, field.name)
              for field in dataclasses.fields(self)}
    return finite_or_none({
        key: list(value) if isinstance(value, tuple) else value
        for key, value in record.items()})


MEASUREMENTS = frozenset(
    f.name for f in dataclasses.fields(Outcome)) - {"status", "seconds",
                                                    "error"}


def finite_or_none(record: dict[str, Any]) -> dict[str, Any]:
  """JSON has no infinity: a value that could not be computed is null.

  Applies to the record's floats and to the floats of its lists.
  """
  def clean(value):
    if isinstance(value, float) and not math.isfinite(value):
      return None
    if isinstance(value, list):
      return [clean(v) for v in value]
    return value
  return {key: clean(value) for key, value in record.items()}


def one_line(error: BaseException) -> str:
  """``"TypeName: first line of the message"``, at most 300 characters."""
  lines = str(error).strip().splitlines()
  name = type(error).__name__
  return (f"{name}: {lines[0]}" if lines else name)[:MAX_ERROR_CHARS]


def run_guarded(train: Callable[[dict[str, Any]], str]) -> Outcome:
  """Runs ``train(measured)`` and returns its `Outcome`; never raises.

  Times the call, turns an exception or a returned error line into a failed
  outcome (reward 0, no scores, the one-line error) that keeps the params and
  per-epoch lists measured before the failure, and clears the Keras session
  afterwards (one worker trains many children). A key of `measured` that is
  not an `Outcome` field fails the child.

  Args:
    train: fills `measured` under `Outcome` field names; returns '' when the
      child trained, else one line saying why it failed.
  """
  start = time.perf_counter()
  measured: dict[str, Any] = {}
  try:
    error = (train(measured) or "").strip()
    unknown = sorted(set(measured) - MEASUREMENTS)
    if unknown and not error:
      error = f"unknown measurements {unknown}"
  except Exception as e:  # pylint: disable=broad-except
    error = one_line(e)
  finally:
    _clear_keras_session()
  fields = {key: tuple(value) if isinstance(value, list) else value
            for key, value in measured.items() if key in MEASUREMENTS}
  fields.setdefault("reward", None)
  fields.setdefault("params", 0)
  seconds = time.perf_counter() - start
  if not error:
    return Outcome(status=OK, seconds=seconds, **fields)
  fields.update(dict.fromkeys(_SCORES), reward=0.0)
  return Outcome(status=FAILED, seconds=seconds,
                 error=error.splitlines()[0][:MAX_ERROR_CHARS], **fields)


def _clear_keras_session() -> None:
  import keras  # pylint: disable=g-import-not-at-top
  keras.backend.clear_session()
