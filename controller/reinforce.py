"""REINFORCE for the controller (Zoph & Le 2017 §3.2; ENAS §2.2).

The gradient is (1/m) sum_k sum_t grad log P(a_t | a_{1:t-1}; theta) (R_k - b)
over m architectures, with b an exponential moving average of past rewards.
Options from the official ENAS code: an entropy bonus added to the reward
(``reward += entropy_weight * entropy``), a skip penalty (skip_weight times
the KL divergence of each skip probability from skip_target), Adam with
configurable beta1/epsilon, and gradient clipping by global norm.

Baseline: the advantages of a batch use the baseline from before the batch
(so a sample never sees its own reward in its baseline); then the baseline
absorbs the batch's rewards one by one, b <- decay * b + (1 - decay) * R.
The first batch initialises b to its mean reward (the official code starts at
0, which makes every early advantage positive).
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
  """

  learning_rate: float = 6e-4
  baseline_decay: float = 0.95
  entropy_weight: float = 0.0
  skip_target: float = 0.4
  skip_weight: float = 0.0
  adam_beta1: float = 0.9
  adam_epsilon: float = 1e-7
  grad_clip_norm: float | None = None


@dataclasses.dataclass(frozen=True)
class UpdateInfo:
  """What one update did.

  Attributes:
    loss: the surrogate loss minimised.
    mean_reward: mean of the (entropy-augmented) rewards.
    baseline: the baseline after the update.
    mean_advantage: mean of R_k - b.
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
    if not bool(self.baseline_ready.numpy()):
      self.baseline.assign(float(shaped.mean()))
      self.baseline_ready.assign(True)
    tokens = tf.constant([s.arc.tokens for s in samples], tf.int32)
    loss, advantage, penalty, norm = self._step(tokens, tf.constant(shaped))
    decay = self.config.baseline_decay
    baseline = float(self.baseline.numpy())
    for reward in shaped:
      baseline = decay * baseline + (1.0 - decay) * float(reward)
    self.baseline.assign(baseline)
    self.num_updates.assign_add(1)
    self.controller.invalidate_cache()
    return UpdateInfo(float(loss), float(shaped.mean()), baseline,
                      float(advantage), float(penalty), float(norm))

  def _update_graph(self, tokens, rewards):
    variables = self.controller.trainable_variables
    with tf.GradientTape() as tape:
      log_prob, _, skip_probs = self.controller.forward_batch(tokens)
      advantage = rewards - self.baseline
      loss = -tf.reduce_mean(log_prob * advantage)
      penalty = tf.constant(0.0)
      if self.config.skip_weight and skip_probs:
        target = self.config.skip_target
        kl = 0.0
        for p in skip_probs:
          p = tf.clip_by_value(p, 1e-6, 1.0 - 1e-6)
          kl += tf.reduce_sum(
              p * tf.math.log(p / target)
              + (1.0 - p) * tf.math.log((1.0 - p) / (1.0 - target)), axis=1)
        penalty = tf.reduce_mean(kl)
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
