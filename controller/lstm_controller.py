"""The LSTM controller that samples architectures of any declared search space.

Zoph & Le 2017 §3.1: an RNN emits one token per decision; each decision is a
softmax over its choices and the chosen token's embedding is the next input.
§3.3: skip connections come from anchor-point attention,
P(j -> i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)). ENAS (Pham et al.
2018, §2.2-2.4) reuses the same controller with attention that picks one
anchor, and shapes logits with a temperature and a tanh constant.

The forward pass is written once (`_walk`) over a tiny array backend, and run
two ways:

* `sample()` runs it in NumPy, one architecture at a time: for a 15-layer
  NAS CNN space that is ~75 LSTM steps of a few small matmuls, well under the
  cost of even one TF op dispatch per step.
* `log_prob_batch()` runs it in TensorFlow on a batch of given architectures
  (teacher forcing) inside one compiled graph, which is what REINFORCE
  differentiates.

Both read the same `tf.Variable`s, so `log_prob(arc)` equals the
log-probability `sample()` returned, up to float32 rounding.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from controller import search_space as ss


@dataclasses.dataclass(frozen=True)
class ControllerConfig:
  """Controller hyperparameters.

  Attributes:
    lstm_size: hidden units per LSTM layer (Zoph & Le: 35; ENAS: 64 or 100).
    lstm_num_layers: stacked LSTM layers (Zoph & Le: 2; ENAS: 1).
    temperature: logits are divided by it when set (ENAS PTB: 5.0).
    tanh_constant: logits become ``c * tanh(logits)`` when set (ENAS: 1.1-2.5).
    init_range: weights start uniform in [-init_range, init_range]
      (Zoph & Le: 0.08; ENAS: 0.1).
    paired_skip_logits: sample a `Skip` declared ``paired_logits`` (the ENAS
      macro space) as the official code, P(skip) = sigmoid(2 c tanh q),
      range [0.047, 0.953] at c = 1.5. False = every skip bit uses the single
      logit, P(skip) = sigmoid(c tanh q), range [0.18, 0.82] at c = 1.5 (this
      project's form before issue 12).
    entropy_form: None = the entropy form the space declares
      (`SearchSpace.entropy_form`); ``"full"`` or ``"sampled"`` overrides it
      for every space (``"full"`` was this project's form before issue 12).
  """

  lstm_size: int = 35
  lstm_num_layers: int = 2
  temperature: float | None = None
  tanh_constant: float | None = None
  init_range: float = 0.08
  paired_skip_logits: bool = True
  entropy_form: str | None = None

  def __post_init__(self):
    if self.entropy_form not in (None,) + ss.ENTROPY_FORMS:
      raise ValueError(f"entropy_form must be None or one of "
                       f"{ss.ENTROPY_FORMS}, got {self.entropy_form!r}")


@dataclasses.dataclass(frozen=True)
class Sample:
  """A sampled architecture with what REINFORCE needs of it.

  Attributes:
    arc: the architecture.
    log_prob: summed log-probability of its tokens.
    entropy: its entropy in the space's form (`SearchSpace.entropy_form`):
      the summed entropy of the distributions it was drawn from, or the sum
      of ``-log p * p`` over its sampled tokens.
  """

  arc: ss.Architecture
  log_prob: float
  entropy: float


class _NumpyOps:
  """The array operations `_walk` needs, in NumPy (batch of one)."""

  matmul = staticmethod(np.matmul)
  tanh = staticmethod(np.tanh)
  zeros_like = staticmethod(np.zeros_like)

  @staticmethod
  def sigmoid(x):
    return 0.5 * (np.tanh(0.5 * x) + 1.0)

  @staticmethod
  def concat(xs, axis):
    return np.concatenate(xs, axis=axis)

  @staticmethod
  def stack(xs, axis):
    return np.stack(xs, axis=axis)

  @staticmethod
  def split4(x):
    return np.split(x, 4, axis=-1)

  @staticmethod
  def log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))

  @staticmethod
  def log_sigmoid(x):
    return -np.logaddexp(0.0, -x)

  @staticmethod
  def reduce_sum(x, axis):
    return x.sum(axis=axis)

  @staticmethod
  def exp(x):
    return np.exp(x)

  @staticmethod
  def cast(x):
    return np.asarray(x, dtype=np.float32)

  @staticmethod
  def one_hot(index, depth):
    return np.eye(depth, dtype=np.float32)[index]

  @staticmethod
  def value(var):
    return var


class _TfOps:
  """The same operations in TensorFlow (batched)."""

  matmul = staticmethod(tf.matmul)
  tanh = staticmethod(tf.tanh)
  sigmoid = staticmethod(tf.sigmoid)
  zeros_like = staticmethod(tf.zeros_like)
  exp = staticmethod(tf.exp)

  @staticmethod
  def concat(xs, axis):
    return tf.concat(xs, axis=axis)

  @staticmethod
  def stack(xs, axis):
    return tf.stack(xs, axis=axis)

  @staticmethod
  def split4(x):
    return tf.split(x, 4, axis=-1)

  @staticmethod
  def log_softmax(x):
    return tf.nn.log_softmax(x, axis=-1)

  @staticmethod
  def log_sigmoid(x):
    return tf.math.log_sigmoid(x)

  @staticmethod
  def reduce_sum(x, axis):
    return tf.reduce_sum(x, axis=axis)

  @staticmethod
  def cast(x):
    return tf.cast(x, tf.float32)

  @staticmethod
  def one_hot(index, depth):
    return tf.one_hot(index, depth, dtype=tf.float32)

  @staticmethod
  def value(var):
    return var


class LSTMController(tf.Module):
  """Samples and scores architectures of one search space.

  Parameters shared across decisions: the LSTM, the start embedding; one
  softmax (with a learned bias where the decision declares one) + embedding
  table per `Categorical.kind`; one attention (W_prev, W_curr, v) per
  `Skip`/`Pick` kind. Everything space-specific (paired skip logits, a fixed
  logit bias, the scaling of a picked input, the entropy form) is read from
  the space's declaration.
  """

  def __init__(self, space: ss.SearchSpace,
               config: ControllerConfig = ControllerConfig(), seed: int = 0):
    super().__init__(name="controller")
    self.space = space
    self.config = config
    self._rng = np.random.default_rng(seed)
    init = tf.random_uniform_initializer(-config.init_range, config.init_range,
                                         seed=seed)
    size = config.lstm_size
    self.lstm_kernels = [
        tf.Variable(init((2 * size, 4 * size)), name=f"lstm_{i}/kernel")
        for i in range(config.lstm_num_layers)]
    self.lstm_biases = [
        tf.Variable(tf.zeros((4 * size,)), name=f"lstm_{i}/bias")
        for i in range(config.lstm_num_layers)]
    self.start = tf.Variable(init((1, size)), name="start_embedding")
    self.softmax_w: dict[str, tf.Variable] = {}
    self.softmax_b: dict[str, tf.Variable] = {}
    self.embeddings: dict[str, tf.Variable] = {}
    self.attention: dict[str, tuple[tf.Variable, ...]] = {}
    for decision in space.decisions:
      key = decision.share_key
      if isinstance(decision, ss.Categorical) and key not in self.softmax_w:
        n = len(decision.choices)
        bias = decision.logit_bias or (0.0,) * n
        self.softmax_w[key] = tf.Variable(init((size, n)), name=f"{key}/w")
        if decision.learned_bias:
          self.softmax_b[key] = tf.Variable(
              tf.constant(bias, tf.float32), name=f"{key}/b")
        self.embeddings[key] = tf.Variable(init((n, size)), name=f"{key}/emb")
      elif isinstance(decision, (ss.Skip, ss.Pick)) and (
          key not in self.attention):
        self.attention[key] = (
            tf.Variable(init((size, size)), name=f"{key}/w_prev"),
            tf.Variable(init((size, size)), name=f"{key}/w_curr"),
            tf.Variable(init((size, 1)), name=f"{key}/v"))
    self._numpy_cache: dict[int, Any] | None = None
    self._compile()

  def _compile(self) -> None:
    self._compiled_log_prob = tf.function(
        self._log_prob_graph,
        input_signature=[tf.TensorSpec([None, self.space.num_tokens],
                                       tf.int32)],
        reduce_retracing=True)

  def set_space(self, space: ss.SearchSpace) -> None:
    """Samples `space` from now on, with the same weights.

    For a space that differs only in how often shared decisions repeat, such
    as Zoph & Le's schedule of deeper children (§4.1): every decision kind
    of `space` must already have its weights here.

    Raises:
      ValueError: `space` needs weights this controller does not have.
    """
    for decision in space.decisions:
      key = decision.share_key
      if isinstance(decision, ss.Categorical):
        known = self.softmax_w.get(key)
        if known is None or known.shape[1] != len(decision.choices):
          raise ValueError(f"decision {decision.name!r}: the controller has "
                           f"no softmax of {len(decision.choices)} choices "
                           f"for kind {key!r}")
      elif isinstance(decision, (ss.Skip, ss.Pick)) and (
          key not in self.attention):
        raise ValueError(f"decision {decision.name!r}: the controller has "
                         f"no attention of kind {key!r}")
    self.space = space
    self._compile()

  # ---------------------------------------------------------------- helpers
  @property
  def entropy_form(self) -> str:
    """The entropy form in use: the config's override, else the space's."""
    return self.config.entropy_form or self.space.entropy_form

  def _entropy(self, ops, log_probs, token_log_prob):
    """Entropy term of one decision (or of each skip bit).

    Args:
      ops: `_NumpyOps` or `_TfOps`.
      log_probs: (batch, n) log-probabilities of the full distribution, or
        None for skip bits (then `token_log_prob` is per bit).
      token_log_prob: log-probability of the sampled token(s).

    Returns:
      (batch,): the full entropy, or the sampled form ``-log p * p`` of the
      official ENAS macro and PTB controllers.
    """
    if self.entropy_form == "sampled":
      term = -token_log_prob * ops.exp(token_log_prob)
      return term if log_probs is not None else ops.reduce_sum(term, 1)
    return -ops.reduce_sum(ops.exp(log_probs) * log_probs, 1)

  def _shape_logits(self, ops, logits, tanh_reduce: float = 1.0):
    if self.config.temperature:
      logits = logits / self.config.temperature
    if self.config.tanh_constant:
      logits = (self.config.tanh_constant / tanh_reduce) * ops.tanh(logits)
    return logits

  def _lstm(self, ops, params, x, state):
    kernels, biases = params["kernels"], params["biases"]
    new_state = []
    for layer, (c, h) in enumerate(state):
      z = ops.matmul(ops.concat([x, h], 1), kernels[layer]) + biases[layer]
      i, f, g, o = ops.split4(z)
      c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
      h = ops.sigmoid(o) * ops.tanh(c)
      new_state.append((c, h))
      x = h
    return x, new_state

  def _params(self, numpy: bool) -> dict[str, Any]:
    conv = (lambda v: v.numpy()) if numpy else (lambda v: v)
    return {
        "kernels": [conv(v) for v in self.lstm_kernels],
        "biases": [conv(v) for v in self.lstm_biases],
        "start": conv(self.start),
        "softmax_w": {k: conv(v) for k, v in self.softmax_w.items()},
        "softmax_b": {k: conv(v) for k, v in self.softmax_b.items()},
        "emb": {k: conv(v) for k, v in self.embeddings.items()},
        "attn": {k: tuple(conv(x) for x in v) for k, v in self.attention.items()},
    }

  # ---------------------------------------------------------------- forward
  def _walk(self, ops, params, ones, choose):
    """Runs the controller over the space's decisions.

    Args:
      ops: `_NumpyOps` or `_TfOps`.
      params: `_params()` output in the matching array type.
      ones: a (batch, 1) array of ones (batch 1 when sampling).
      choose: callback ``choose(kind, index, log_probs) -> tokens`` that
        returns the tokens of this decision: for 'categorical'/'pick' an int
        vector (batch,); for 'skip' a float 0/1 matrix (batch, num_anchors).
        `log_probs` are (batch, n) log-probabilities, or for 'skip' the
        (batch, n) logits of the Bernoulli variables.

    Returns:
      (log_prob, entropy, skip_probs): the first two summed over decisions,
      each (batch,); then one (batch, n) array per skip decision with
      anchors, sigmoid(shaped q), which the skip penalty reads (the sampling
      probability itself when the skip's logits are not paired).
    """
    start = ops.matmul(ones, params["start"])
    zeros = ops.zeros_like(start)
    state = [(zeros, zeros) for _ in range(self.config.lstm_num_layers)]
    x = start
    anchor_keys: dict[tuple[str, str], list] = {}
    anchor_values: dict[str, list] = {}
    log_prob = 0.0
    entropy = 0.0
    skip_probs = []
    for index, decision in enumerate(self.space.decisions):
      out, state = self._lstm(ops, params, x, state)
      if isinstance(decision, ss.Categorical):
        key = decision.share_key
        logits = ops.matmul(out, params["softmax_w"][key])
        if key in params["softmax_b"]:
          logits = logits + params["softmax_b"][key]
        logits = self._shape_logits(ops, logits, decision.tanh_reduce)
        if decision.fixed_logit_bias:
          # ENAS micro ``b_soft_no_learn``: after the shaping, not learned.
          logits = logits + ops.cast(np.array([decision.fixed_logit_bias]))
        logp = ops.log_softmax(logits)
        token = choose("categorical", index, logp)
        onehot = ops.one_hot(token, len(decision.choices))
        token_logp = ops.reduce_sum(onehot * logp, 1)
        log_prob = log_prob + token_logp
        entropy = entropy + self._entropy(ops, logp, token_logp)
        x = ops.matmul(onehot, params["emb"][key])
      elif isinstance(decision, (ss.Skip, ss.Pick)):
        w_prev, w_curr, v = params["attn"][decision.share_key]
        keys = anchor_keys.get((decision.share_key, decision.scope), [])
        values = anchor_values.get(decision.scope, [])
        if isinstance(decision, ss.Skip):
          if decision.num_anchors == 0:
            x = start
          else:
            query = ops.matmul(out, w_curr)
            scores = [ops.matmul(ops.tanh(k + query), v) for k in keys]
            logits = self._shape_logits(ops, ops.concat(scores, 1))
            # The skip penalty reads sigmoid(shaped q) in both forms.
            skip_probs.append(ops.sigmoid(logits))
            if decision.paired_logits and self.config.paired_skip_logits:
              # softmax(shaped [-q, q]) = sigmoid(2 shaped q): tanh is odd.
              logits = 2.0 * logits
            bits = choose("skip", index, logits)
            log_on, log_off = ops.log_sigmoid(logits), ops.log_sigmoid(-logits)
            bit_logp = bits * log_on + (1.0 - bits) * log_off
            log_prob = log_prob + ops.reduce_sum(bit_logp, 1)
            if self.entropy_form == "sampled":
              entropy = entropy + self._entropy(ops, None, bit_logp)
            else:
              p_on = ops.exp(log_on)
              entropy = entropy - ops.reduce_sum(
                  p_on * log_on + (1.0 - p_on) * log_off, 1)
            stacked = ops.stack(values, 1)  # (batch, n, size)
            chosen = ops.reduce_sum(stacked * bits[:, :, None], 1)
            x = chosen / (1.0 + ops.reduce_sum(bits, 1)[:, None])
        else:
          query = ops.matmul(out, w_curr)
          scores = [ops.matmul(ops.tanh(k + query), v) for k in keys]
          logits = self._shape_logits(ops, ops.concat(scores, 1))
          if decision.distance_penalty:
            # After the temperature and tanh, as both official ENAS PTB
            # controllers: the prior is not squashed by the tanh.
            n = decision.num_anchors
            penalty = np.array(
                [[-((n - j) ** 2) / decision.distance_penalty
                  for j in range(n)]], np.float32)
            logits = logits + ops.cast(penalty)
          logp = ops.log_softmax(logits)
          token = choose("pick", index, logp)
          onehot = ops.one_hot(token, decision.num_anchors)
          token_logp = ops.reduce_sum(onehot * logp, 1)
          log_prob = log_prob + token_logp
          entropy = entropy + self._entropy(ops, logp, token_logp)
          x = ops.reduce_sum(ops.stack(values, 1) * onehot[:, :, None], 1)
          if decision.input_scale_offset is not None:
            # ENAS PTB: the picked node j's state over (0.1 + i - j).
            distance = ops.cast(decision.num_anchors - token)
            x = x / (decision.input_scale_offset + distance)[:, None]
      else:  # AnchorStep
        x = start
      if decision.creates_anchor:
        for attn_key, (w_prev, _, _) in params["attn"].items():
          anchor_keys.setdefault((attn_key, decision.scope), []).append(
              ops.matmul(out, w_prev))
        zero_value = isinstance(decision, ss.AnchorStep) and decision.zero_value
        anchor_values.setdefault(decision.scope, []).append(
            ops.zeros_like(out) if zero_value else out)
    return log_prob, entropy, skip_probs

  # ---------------------------------------------------------------- public
  def sample(self) -> Sample:
    """Samples one architecture (NumPy forward pass, seeded generator)."""
    params = self._numpy_params()
    tokens: list[int] = []
    rng = self._rng

    def choose(kind, index, values):
      del index
      if kind == "skip":
        p_on = 0.5 * (np.tanh(0.5 * values[0]) + 1.0)
        bits = (rng.random(p_on.shape) < p_on).astype(np.float32)
        tokens.extend(int(b) for b in bits)
        return bits[None, :]
      probs = np.exp(values[0].astype(np.float64))
      probs /= probs.sum()
      token = int(rng.choice(len(probs), p=probs))
      tokens.append(token)
      return np.array([token])

    ones = np.ones((1, 1), np.float32)
    log_prob, entropy, _ = self._walk(_NumpyOps, params, ones, choose)
    arc = ss.Architecture(self.space, tuple(tokens))
    return Sample(arc, float(np.asarray(log_prob).reshape(-1)[0]),
                  float(np.asarray(entropy).reshape(-1)[0]))

  def _numpy_params(self):
    if self._numpy_cache is None:
      self._numpy_cache = self._params(numpy=True)
    return self._numpy_cache

  def invalidate_cache(self) -> None:
    """Call after the variables change (the learner does)."""
    self._numpy_cache = None

  def _log_prob_graph(self, tokens: tf.Tensor):
    return self.forward_batch(tokens)

  def forward_batch(self, tokens: tf.Tensor):
    """Teacher-forced pass over a batch of token sequences.

    Args:
      tokens: int32 (batch, num_tokens) in sampling order.

    Returns:
      (log_prob, entropy, skip_probs) as `_walk` returns them.
    """
    params = self._params(numpy=False)
    slices = self.space.token_slices()

    def choose(kind, index, values):
      del values
      where = slices[index][1]
      if kind == "skip":
        return tf.cast(tokens[:, where], tf.float32)
      return tokens[:, where.start]

    ones = tf.ones((tf.shape(tokens)[0], 1))
    return self._walk(_TfOps, params, ones, choose)

  def log_prob_batch(self, arcs: Sequence[ss.Architecture]) -> np.ndarray:
    """Log-probabilities of given architectures (compiled graph)."""
    tokens = tf.constant([a.tokens for a in arcs], tf.int32)
    log_prob, _, _ = self._compiled_log_prob(tokens)
    return log_prob.numpy()

  def log_prob(self, arc: ss.Architecture) -> float:
    """Log-probability of one architecture under the current policy."""
    return float(self.log_prob_batch([arc])[0])

  def set_seed(self, seed: int) -> None:
    self._rng = np.random.default_rng(seed)

  @property
  def rng(self) -> np.random.Generator:
    return self._rng
