"""REINFORCE for the controller (Zoph & Le 2017 §3.2; ENAS §2.2).

The gradient is (1/m) sum_k sum_t grad log P(a_t | a_{1:t-1}; theta) (R_k - b)
over m architectures, with b an exponential moving average of past rewards.
Options from the official ENAS code: an entropy bonus added to the reward
(``reward += entropy_weight * entropy``), a skip penalty (skip_weight times
the KL divergence of each skip probability from skip_target), Adam with
configurable beta1/epsilon, and gradient clipping by global norm.

Baseline, two settings (`ReinforceConfig.baseline_init`,
`ReinforceConfig.advantage_baseline`):

* official ENAS (melodyguan/enas 4bcfd73 ``build_trainer`` of the general,
  micro and PTB controllers; enas_lm ``controller.py``): b starts at 0; each
  sample, in order, first moves it, b <- b - (1 - decay)(b - R), and its
  advantage is R - b with that moved b (the loss reads the baseline variable
  under a control dependency on its update). The ENAS gin files set this.
* this project's default (kept for the NAS runs): the first batch sets b to
  its mean reward (a zero start makes every early advantage positive), the
  batch's advantages use b from before the batch (a sample never sees its own
  reward in its baseline), then b absorbs the rewards one by one.

Skip penalty (ENAS §2.3; `general_controller.py`): per layer the KL of
sigmoid(shaped q) from skip_target summed over that layer's anchors, averaged
over the layers that have anchors, times skip_weight
(`ReinforceConfig.skip_penalty_reduce` = ``"sum"`` sums over layers instead).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import tensorflow as tf

from controller import lstm_controller


@dataclasses.dataclass(frozen=True)
class ReinforceConfig:
  """REINFORCE hyperparameters.

  Attributes:
    learning_rate: Adam step size (Zoph & Le: 0.0006; ENAS: 0.001-0.0035).
    baseline_decay: EMA decay of the baseline (ENAS: 0.99).
    entropy_weight: weight of the entropy bonus added to the reward.
    skip_target: target skip probability for the skip penalty (ENAS: 0.4).
    skip_weight: weight of the skip penalty; 0 = off (ENAS macro: 0.8).
    adam_beta1: Adam beta1 (ENAS: 0.0).
    adam_epsilon: Adam epsilon (ENAS: 1e-3).
    grad_clip_norm: clip the gradient's global norm; None = off.
    skip_penalty_reduce: ``"mean"`` over the layers with anchors (official
      ENAS) or ``"sum"`` over them (this project before issue 12: about 11x
      stronger at 12 layers).
    baseline_init: ``"zero"`` (official ENAS) or ``"first_mean"``, the first
      batch's mean reward.
    advantage_baseline: ``"updated"``: each sample's advantage uses the
      baseline just moved toward its own reward (official ENAS);
      ``"previous"``: every sample of a batch uses the baseline from before
      the batch.
  """

  learning_rate: float = 6e-4
  baseline_decay: float = 0.95
  entropy_weight: float = 0.0
  skip_target: float = 0.4
  skip_weight: float = 0.0
  adam_beta1: float = 0.9
  adam_epsilon: float = 1e-7
  grad_clip_norm: float | None = None
  skip_penalty_reduce: str = "mean"
  baseline_init: str = "first_mean"
  advantage_baseline: str = "previous"

  def __post_init__(self):
    for name, allowed in (("skip_penalty_reduce", ("mean", "sum")),
                          ("baseline_init", ("zero", "first_mean")),
                          ("advantage_baseline", ("updated", "previous"))):
      if getattr(self, name) not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, "
                         f"got {getattr(self, name)!r}")


@dataclasses.dataclass(frozen=True)
class UpdateInfo:
  """What one update did.

  Attributes:
    loss: the surrogate loss minimised.
    mean_reward: mean of the (entropy-augmented) rewards.
    baseline: the baseline after the update.
    mean_advantage: mean of R_k - b_k (b_k the baseline sample k used).
    skip_penalty: the skip KL term (0 when off).
    grad_norm: global gradient norm before clipping.
  """

  loss: float
  mean_reward: float
  baseline: float
  mean_advantage: float
  skip_penalty: float
  grad_norm: float


class Reinforce(tf.Module):
  """Updates an `LSTMController` from rewarded samples."""

  def __init__(self, controller: lstm_controller.LSTMController,
               config: ReinforceConfig = ReinforceConfig()):
    super().__init__(name="reinforce")
    self.controller = controller
    self.config = config
    self.baseline = tf.Variable(0.0, name="baseline")
    self.baseline_ready = tf.Variable(False, name="baseline_ready")
    self.optimizer = tf.keras.optimizers.Adam(
        learning_rate=config.learning_rate, beta_1=config.adam_beta1,
        epsilon=config.adam_epsilon)
    self.num_updates = tf.Variable(0, dtype=tf.int64, name="num_updates")
    self.recompile()

  def recompile(self) -> None:
    """Rebuilds the update for the controller's current space."""
    space = self.controller.space
    self._step = tf.function(
        self._update_graph,
        input_signature=[tf.TensorSpec([None, space.num_tokens], tf.int32),
                         tf.TensorSpec([None], tf.float32),
                         tf.TensorSpec([None], tf.float32)],
        reduce_retracing=True)

  def shaped_rewards(self, rewards: Sequence[float],
                     entropies: Sequence[float]) -> np.ndarray:
    """Rewards plus the entropy bonus (ENAS ``reward += w * entropy``)."""
    return (np.asarray(rewards, np.float32)
            + self.config.entropy_weight * np.asarray(entropies, np.float32))

  def update(self, samples: Sequence[lstm_controller.Sample],
             rewards: Sequence[float]) -> UpdateInfo:
    """One REINFORCE step on m rewarded samples."""
    if len(samples) != len(rewards):
      raise ValueError("one reward per sample")
    shaped = self.shaped_rewards(rewards, [s.entropy for s in samples])
    baselines, baseline = self._baselines(shaped)
    tokens = tf.constant([s.arc.tokens for s in samples], tf.int32)
    loss, advantage, penalty, norm = self._step(
        tokens, tf.constant(shaped), tf.constant(baselines, tf.float32))
    self.baseline.assign(baseline)
    self.num_updates.assign_add(1)
    self.controller.invalidate_cache()
    return UpdateInfo(float(loss), float(shaped.mean()), baseline,
                      float(advantage), float(penalty), float(norm))

  def _baselines(self, rewards: np.ndarray) -> tuple[np.ndarray, float]:
    """The baseline each sample's advantage uses, and the one after all.

    Official ENAS: ``b <- b - (1 - decay)(b - R)`` per sample, and the
    sample's advantage reads the moved b (`ReinforceConfig`).
    """
    keep = self.config.baseline_decay
    baseline = float(self.baseline.numpy())
    if not bool(self.baseline_ready.numpy()):
      if self.config.baseline_init == "first_mean":
        baseline = float(rewards.mean())
      self.baseline_ready.assign(True)
    before = baseline
    used = []
    for reward in rewards:
      baseline -= (1.0 - keep) * (baseline - float(reward))
      used.append(baseline)
    if self.config.advantage_baseline == "previous":
      used = [before] * len(rewards)
    return np.asarray(used, np.float32), baseline

  def skip_penalty(self, skip_probs) -> tf.Tensor:
    """Mean over samples of the skip KL (ENAS §2.3, `general_controller.py`).

    Args:
      skip_probs: per skip decision with anchors, (batch, n) sigmoid(shaped q).

    Returns:
      Per sample, KL(p || skip_target) summed over a layer's anchors, then
      averaged (or summed, `skip_penalty_reduce`) over layers; the batch mean.
    """
    target = self.config.skip_target
    per_layer = []
    for p in skip_probs:
      p = tf.clip_by_value(p, 1e-6, 1.0 - 1e-6)
      per_layer.append(tf.reduce_sum(
          p * tf.math.log(p / target)
          + (1.0 - p) * tf.math.log((1.0 - p) / (1.0 - target)), axis=1))
    per_layer = tf.stack(per_layer, axis=1)   # (batch, layers)
    if self.config.skip_penalty_reduce == "mean":
      return tf.reduce_mean(tf.reduce_mean(per_layer, axis=1))
    return tf.reduce_mean(tf.reduce_sum(per_layer, axis=1))

  def _update_graph(self, tokens, rewards, baselines):
    variables = self.controller.trainable_variables
    with tf.GradientTape() as tape:
      log_prob, _, skip_probs = self.controller.forward_batch(tokens)
      advantage = rewards - baselines
      loss = -tf.reduce_mean(log_prob * advantage)
      penalty = tf.constant(0.0)
      if self.config.skip_weight and skip_probs:
        penalty = self.skip_penalty(skip_probs)
        loss += self.config.skip_weight * penalty
    grads = tape.gradient(loss, variables)
    grads = [tf.zeros_like(v) if g is None else g
             for g, v in zip(grads, variables)]
    norm = tf.linalg.global_norm(grads)
    if self.config.grad_clip_norm:
      grads, _ = tf.clip_by_global_norm(grads, self.config.grad_clip_norm,
                                        use_norm=norm)
    self.optimizer.apply_gradients(zip(grads, variables))
    return loss, tf.reduce_mean(advantage), penalty, norm
