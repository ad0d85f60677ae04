"""Multi-objective rewards: accuracy traded against cost (MnasNet, Tan et al. 2019 §3).

MnasNet's weighted product (Tan et al. 2019, §3, Eq. 2): for a model m of
score ACC(m) and cost C(m) (their latency; here parameters, FLOPs or
latency) and a target T,

  reward(m) = ACC(m) * (C(m) / T) ** w,   w = alpha if C(m) <= T else beta.

MnasNet's soft constraint is alpha = beta = -0.07 (a model twice the target
loses about 5% of its reward, one half the target gains as much); the hard
constraint is alpha = 0, beta = -1 (no change under the target, a steep
penalty above it). The score is whatever reward the evaluator gives: an
accuracy-based reward (NAS ``acc ** 3``, ENAS accuracy) or a perplexity-based
one (``c / ppl ** k`` for the language models); the factor multiplies it
either way.

The loop (`runner.loop.run_search`) applies `Objective.apply` to every
evaluated-architecture record and to every derive candidate: ``reward``
becomes the multi-objective reward (what the strategy learns from and what
selects the result) and ``score_reward`` keeps the evaluator's own. With
``metric = None`` (the default) nothing changes.

Costs (each family's ``cost`` in its home; fields of every record):

* ``params``: trainable parameters of the model (or, for a shared-weight
  evaluation, of the architecture's own weights in the supergraph);
* ``flops``: multiply-adds of one forward pass for one example (image
  families) or per token (language models);
* ``latency``: seconds per forward pass of a batch, the median of a few
  runs, measured on this machine (`child.latency`). Only children trained on
  their own (NAS tasks, ENAS final models) measure it; shared-weight ENAS
  scoring has none.

Example (gin)::

  import runner.objective
  Objective.metric = 'flops'
  Objective.target = 5e6
  Objective.alpha = -0.07
  Objective.beta = -0.07
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gin

from child import latency
from controller import errors

METRICS = ("params", "flops", "latency")
"""The cost fields an objective may weigh (record keys)."""

SCORE_REWARD = "score_reward"
"""Where a record keeps the evaluator's reward (accuracy or perplexity only)."""


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Objective:
  """The multi-objective reward of MnasNet (Tan et al. 2019, Eq. 2).

  Attributes:
    metric: None (off: the reward is the evaluator's), or the cost weighed:
      'params', 'flops' or 'latency' (see the module doc).
    target: T, in the metric's unit (parameters, multiply-adds, seconds).
    alpha: exponent when cost <= target (MnasNet soft: -0.07; hard: 0).
    beta: exponent when cost > target (MnasNet soft: -0.07; hard: -1).
  """

  metric: str | None = None
  target: float | None = None
  alpha: float = -0.07
  beta: float = -0.07

  def __post_init__(self):
    if self.metric is None:
      return
    if self.metric not in METRICS:
      raise errors.ConfigError(
          f"Objective.metric must be None or one of {', '.join(METRICS)}, "
          f"not {self.metric!r}")
    if not isinstance(self.target, (int, float)) or not self.target > 0:
      raise errors.ConfigError(
          f"Objective.target must be a positive number (in {self.metric}), "
          f"not {self.target!r}")

  @property
  def active(self) -> bool:
    return self.metric is not None

  def factor(self, cost: float) -> float:
    """``(cost / target) ** w``, w = alpha at or under the target, else beta.

    Raises:
      ValueError: `cost` is not positive.
    """
    if not cost > 0:
      raise ValueError(f"a {self.metric} cost must be positive, got {cost!r}")
    ratio = cost / self.target
    return ratio ** (self.alpha if ratio <= 1.0 else self.beta)

  def check(self, evaluator: Any) -> None:
    """Fails early when the evaluator cannot measure the metric.

    Raises:
      errors.ConfigError: latency asked of an evaluator that measures none
        (shared-weight ENAS scoring), or of children not told to measure it.
    """
    if self.metric != "latency":
      return
    if not getattr(evaluator, "measures_latency", False):
      raise errors.ConfigError(
          "Objective.metric = 'latency' is unavailable here: shared-weight "
          f"scoring ({getattr(evaluator, 'phase', '?')}) builds no model to "
          "time; use 'params' or 'flops', or a from-scratch search")
    if latency.LatencyConfig().runs < 1:
      raise errors.ConfigError(
          "Objective.metric = 'latency' needs children that time themselves: "
          "bind LatencyConfig.runs (e.g. 5; import child.latency)")

  def apply(self, record: dict[str, Any]) -> dict[str, Any]:
    """`record` with the multi-objective ``reward`` and its ``score_reward``.

    Off: `record` unchanged. A failed record (status other than 'ok', or
    with no reward) keeps its reward. A record without a reward status
    (derive scores) is treated as ok.

    Raises:
      errors.ConfigError: an ok record lacks a positive cost of the metric.
    """
    if not self.active or record.get("reward") is None:
      return record
    if record.get("status", "ok") != "ok":
      return dict(record, **{SCORE_REWARD: record["reward"]})
    cost = record.get(self.metric)
    if cost is None or not cost > 0:
      raise errors.ConfigError(
          f"Objective.metric = {self.metric!r}: the evaluator reported "
          f"{self.metric} = {cost!r} for {record.get('arc', 'an architecture')}")
    return dict(record, reward=record["reward"] * self.factor(cost),
                **{SCORE_REWARD: record["reward"]})
