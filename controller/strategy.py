"""Search strategies behind one ask/tell interface.

A strategy proposes architectures (`ask`) and learns from their rewards
(`tell`). `ReinforceStrategy` is the paper's controller (Zoph & Le §3.2);
`RandomSearch` is the control both papers compare against. The NAS loop and
the ENAS trainer only talk to this interface.

`state()` / `load_state()` exchange plain NumPy arrays and JSON-able values,
so a run directory can store them atomically in one ``.npz`` file.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, Sequence

import gin
import numpy as np

from controller import lstm_controller
from controller import reinforce
from controller import search_space as ss


class Strategy(Protocol):
  """What a search loop needs of a strategy."""

  space: ss.SearchSpace

  def ask(self, num: int) -> list[lstm_controller.Sample]:
    """Proposes `num` architectures."""

  def tell(self, samples: Sequence[lstm_controller.Sample],
           rewards: Sequence[float]) -> dict[str, float]:
    """Learns from the rewards of `samples`; returns metrics to log."""

  def state(self) -> dict[str, np.ndarray]:
    """Everything needed to continue exactly where it is."""

  def load_state(self, state: dict[str, np.ndarray]) -> None:
    """Restores `state()`."""

  def set_space(self, space: ss.SearchSpace) -> None:
    """Proposes architectures of `space` from now on (e.g. deeper ones)."""


def _rng_state_array(rng: np.random.Generator) -> np.ndarray:
  return np.array(json.dumps(rng.bit_generator.state))


def _restore_rng(rng: np.random.Generator, array: np.ndarray) -> None:
  rng.bit_generator.state = json.loads(str(array))


class RandomSearch:
  """Uniform sampling over the space (the papers' random-search control).

  Every categorical choice and every `Pick` index is uniform; each skip bit is
  on with probability `skip_probability`.
  """

  def __init__(self, space: ss.SearchSpace, seed: int = 0,
               skip_probability: float = 0.5):
    self.space = space
    self.rng = np.random.default_rng(seed)
    self.skip_probability = skip_probability

  def ask(self, num: int) -> list[lstm_controller.Sample]:
    return [self._one() for _ in range(num)]

  def set_space(self, space: ss.SearchSpace) -> None:
    self.space = space

  def _one(self) -> lstm_controller.Sample:
    tokens: list[int] = []
    log_prob = 0.0
    for decision in self.space.decisions:
      if isinstance(decision, ss.Categorical):
        n = len(decision.choices)
        tokens.append(int(self.rng.integers(n)))
        log_prob -= np.log(n)
      elif isinstance(decision, ss.Pick):
        tokens.append(int(self.rng.integers(decision.num_anchors)))
        log_prob -= np.log(decision.num_anchors)
      elif isinstance(decision, ss.Skip):
        bits = self.rng.random(decision.num_anchors) < self.skip_probability
        tokens.extend(int(b) for b in bits)
        p = self.skip_probability
        log_prob += float(np.sum(np.where(bits, np.log(p), np.log(1 - p))))
    arc = ss.Architecture(self.space, tuple(tokens))
    return lstm_controller.Sample(arc, float(log_prob), float(-log_prob))

  def tell(self, samples, rewards) -> dict[str, float]:
    return {"mean_reward": float(np.mean(rewards))}

  def state(self) -> dict[str, np.ndarray]:
    return {"rng": _rng_state_array(self.rng)}

  def load_state(self, state: dict[str, np.ndarray]) -> None:
    _restore_rng(self.rng, state["rng"])


class ReinforceStrategy:
  """The LSTM controller trained with REINFORCE (Zoph & Le §3.2)."""

  def __init__(self, space: ss.SearchSpace,
               controller_config: lstm_controller.ControllerConfig,
               reinforce_config: reinforce.ReinforceConfig, seed: int = 0):
    self.space = space
    self.controller = lstm_controller.LSTMController(
        space, controller_config, seed=seed)
    self.learner = reinforce.Reinforce(self.controller, reinforce_config)

  def ask(self, num: int) -> list[lstm_controller.Sample]:
    return [self.controller.sample() for _ in range(num)]

  def set_space(self, space: ss.SearchSpace) -> None:
    """Samples `space` from now on (same controller weights and state)."""
    if space is self.space:
      return
    self.controller.set_space(space)
    self.learner.recompile()
    self.space = space

  def tell(self, samples, rewards) -> dict[str, float]:
    info = self.learner.update(samples, rewards)
    return {"controller_loss": info.loss, "mean_reward": info.mean_reward,
            "baseline": info.baseline, "mean_advantage": info.mean_advantage,
            "skip_penalty": info.skip_penalty, "grad_norm": info.grad_norm,
            "mean_entropy": float(np.mean([s.entropy for s in samples]))}

  def _variables(self):
    return (list(self.controller.variables)
            + [self.learner.baseline, self.learner.baseline_ready,
               self.learner.num_updates])

  def state(self) -> dict[str, np.ndarray]:
    out: dict[str, Any] = {"rng": _rng_state_array(self.controller.rng)}
    for i, var in enumerate(self._variables()):
      out[f"var_{i}"] = var.numpy()
    for i, var in enumerate(self.learner.optimizer.variables):
      out[f"opt_{i}"] = np.asarray(var)
    return out

  def load_state(self, state: dict[str, np.ndarray]) -> None:
    _restore_rng(self.controller.rng, state["rng"])
    for i, var in enumerate(self._variables()):
      var.assign(state[f"var_{i}"])
    optimizer = self.learner.optimizer
    if any(k.startswith("opt_") for k in state):
      if not optimizer.built:
        optimizer.build(self.controller.trainable_variables)
      for i, var in enumerate(optimizer.variables):
        var.assign(state[f"opt_{i}"])
    self.controller.invalidate_cache()


@gin.configurable
def make_strategy(space: ss.SearchSpace, seed: int, kind: str = "reinforce",
                  lstm_size: int = 35, lstm_num_layers: int = 2,
                  temperature: float | None = None,
                  tanh_constant: float | None = None,
                  init_range: float = 0.08,
                  paired_skip_logits: bool = True,
                  entropy_form: str | None = None,
                  learning_rate: float = 6e-4, baseline_decay: float = 0.95,
                  entropy_weight: float = 0.0, skip_target: float = 0.4,
                  skip_weight: float = 0.0, adam_beta1: float = 0.9,
                  adam_epsilon: float = 1e-7,
                  grad_clip_norm: float | None = None,
                  skip_penalty_reduce: str = "mean",
                  baseline_init: str = "first_mean",
                  advantage_baseline: str = "previous") -> Strategy:
  """Builds the strategy named `kind` ('reinforce' or 'random') from gin.

  Defaults are Zoph & Le's controller: 2-layer LSTM of 35 units, Adam at
  0.0006, weights uniform in [-0.08, 0.08]. The other arguments are the
  fields of `lstm_controller.ControllerConfig` and `reinforce.ReinforceConfig`
  of the same names; the ENAS search gin files set the official ENAS baseline
  (``baseline_init = 'zero'``, ``advantage_baseline = 'updated'``).
  """
  if kind == "random":
    return RandomSearch(space, seed=seed)
  if kind != "reinforce":
    raise ValueError(f"unknown strategy {kind!r} (use 'reinforce' or 'random')")
  return ReinforceStrategy(
      space,
      lstm_controller.ControllerConfig(
          lstm_size=lstm_size, lstm_num_layers=lstm_num_layers,
          temperature=temperature, tanh_constant=tanh_constant,
          init_range=init_range, paired_skip_logits=paired_skip_logits,
          entropy_form=entropy_form),
      reinforce.ReinforceConfig(
          learning_rate=learning_rate, baseline_decay=baseline_decay,
          entropy_weight=entropy_weight, skip_target=skip_target,
          skip_weight=skip_weight, adam_beta1=adam_beta1,
          adam_epsilon=adam_epsilon, grad_clip_norm=grad_clip_norm,
          skip_penalty_reduce=skip_penalty_reduce,
          baseline_init=baseline_init,
          advantage_baseline=advantage_baseline),
      seed=seed)
