"""The word-level language-model child of Zoph & Le 2017, §3.4 and §4.2.

A child is: embedding -> `num_layers` recurrent layers (any Keras RNN cell
with state ``[h, c]``: a searched `TreeCell`, the published NAS cell or an
LSTM) -> softmax over the vocabulary, trained by truncated backpropagation
through time with the state carried from one window to the next (Zaremba et
al. 2014), and scored by validation perplexity. The controller's reward is
``c / ppl ** 2`` with c = 80 (§3.4).

Dropout is variational (Gal & Ghahramani 2016): one mask per sequence, the
same at every time step, on the embeddings fed to the first layer
(`input_dropout`), on each layer's outputs fed to the next layer
(`layer_dropout`) and on the last layer's outputs fed to the softmax
(`output_dropout`). The recurrent connections h_{t-1} -> h_t have no dropout.

Weight tying (Press & Wolf 2017; Inan et al. 2017): the output layer is
``logits = P(h) E^T + b`` with E the embedding matrix; P is the identity
when ``embedding_size == hidden_size`` and else a learned linear map
(hidden -> embedding, no bias).

Training (defaults: Zaremba et al. 2014 "medium", whose parameter count the
paper's search children match, §4.2): SGD, loss summed over the window's time
steps and averaged over the batch, gradients clipped to global norm 5,
learning rate 1 divided by 1.2 after each epoch from epoch 6 on. Each epoch
starts from a zero state; within an epoch every window starts from the
previous window's final state (no gradient flows across windows).

The stream is read with `child.lm` (windows, summed NLL, perplexity), the
plumbing every language model of the project shares.

Model protocol (what `evaluate_perplexity` and `run_epoch` need):
``model(ids, states=states, training=...) -> (logits, new_states)`` with ids
``(batch, time)`` int32 and logits ``(batch, time, vocab)``, and
``model.initial_state(batch_size) -> states``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable, Optional

import gin
import keras
import numpy as np
import tensorflow as tf
from keras import ops

from child import epoch_checkpoint
from child import latency as latency_lib
from child import lm
from child import outcome
from child import progress
from child import summaries
from child.datasets import batchify
from child.nas_tree_cell import cost as cost_lib
from child.nas_tree_cell.cell import CellLike, cell_factory as make_cell_factory
from controller import config_check

CellFactory = Callable[[int], keras.layers.Layer]


class NonFiniteLossError(FloatingPointError):
  """The training loss became NaN or infinite."""


@keras.saving.register_keras_serializable(package="rlnas")
class VariationalDropout(keras.layers.Layer):
  """Dropout with one mask per sequence, shared by all time steps (Gal 2016).

  Input ``(batch, time, features)``; the mask is ``(batch, 1, features)``.
  """

  def __init__(self, rate: float, seed: int | None = None, **kwargs):
    super().__init__(**kwargs)
    self.rate = float(rate)
    self.seed = seed
    self.seed_generator = keras.random.SeedGenerator(seed)

  def call(self, inputs, training=False):
    if not training or self.rate <= 0.0:
      return inputs
    shape = ops.shape(inputs)
    keep = keras.random.uniform((shape[0], 1, shape[2]),
                                seed=self.seed_generator) >= self.rate
    return inputs * ops.cast(keep, inputs.dtype) / (1.0 - self.rate)

  def get_config(self):
    return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="rlnas")
class LanguageModel(keras.Model):
  """Embedding, stacked recurrent layers and a (possibly tied) softmax.

  Build it with `build_language_model`. Call as
  ``model(ids, states=states, training=...) -> (logits, new_states)``;
  `states` is a list with one ``[h, c]`` per layer.
  """

  def __init__(self, cell_factory: CellFactory, vocab_size: int,
               embedding_size: int, hidden_size: int, num_layers: int,
               input_dropout: float = 0.0, layer_dropout: float = 0.0,
               output_dropout: float = 0.0, tie_weights: bool = False,
               init_scale: float = 0.05, seed: int | None = None, **kwargs):
    super().__init__(**kwargs)
    if num_layers < 1:
      raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    self._config = dict(vocab_size=vocab_size, embedding_size=embedding_size,
                        hidden_size=hidden_size, num_layers=num_layers,
                        input_dropout=input_dropout,
                        layer_dropout=layer_dropout,
                        output_dropout=output_dropout, tie_weights=tie_weights,
                        init_scale=init_scale, seed=seed)
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.num_layers = num_layers
    self.tie_weights = tie_weights
    uniform = lambda: keras.initializers.RandomUniform(-init_scale, init_scale)
    self.embedding = keras.layers.Embedding(
        vocab_size, embedding_size, embeddings_initializer=uniform())
    self.recurrent = [_recurrent_layer(cell_factory(hidden_size))
                      for _ in range(num_layers)]
    self.dropouts = [
        VariationalDropout(rate, seed=None if seed is None else seed + k)
        for k, rate in enumerate([input_dropout]
                                 + [layer_dropout] * (num_layers - 1)
                                 + [output_dropout])]
    if tie_weights:
      self.projection = (
          None if embedding_size == hidden_size else
          keras.layers.Dense(embedding_size, use_bias=False,
                             kernel_initializer=uniform()))
      self.output_bias = self.add_weight(
          shape=(vocab_size,), initializer="zeros", name="output_bias")
    else:
      self.softmax = keras.layers.Dense(vocab_size,
                                        kernel_initializer=uniform())

  def get_config(self):
    """The sizes and settings, and each recurrent layer's own config."""
    return {**self._config, "name": self.name, "recurrent": [
        keras.saving.serialize_keras_object(layer) for layer in self.recurrent]}

  @classmethod
  def from_config(cls, config):
    """Rebuilds the model (weights created, as `build_language_model`)."""
    config = dict(config)
    layers = iter([keras.saving.deserialize_keras_object(layer)
                   for layer in config.pop("recurrent")])
    model = cls(lambda units: next(layers), **config)
    model(np.zeros((1, 1), np.int32), states=model.initial_state(1))
    return model

  def initial_state(self, batch_size: int) -> list[list[tf.Tensor]]:
    """Zero ``[h, c]`` for every layer."""
    zeros = lambda: tf.zeros((batch_size, self.hidden_size))
    return [[zeros(), zeros()] for _ in range(self.num_layers)]

  def call(self, ids, states=None, training=False):
    if states is None:
      states = self.initial_state(ops.shape(ids)[0])
    x = self.dropouts[0](self.embedding(ids), training=training)
    new_states = []
    for layer, dropout, state in zip(self.recurrent, self.dropouts[1:], states):
      x, *state = layer(x, initial_state=list(state), training=training)
      x = dropout(x, training=training)
      new_states.append(list(state))
    if not self.tie_weights:
      return self.softmax(x), new_states
    if self.projection is not None:
      x = self.projection(x)
    logits = ops.matmul(x, ops.transpose(self.embedding.embeddings))
    return logits + self.output_bias, new_states


def _recurrent_layer(cell_or_layer) -> keras.layers.RNN:
  if isinstance(cell_or_layer, keras.layers.RNN):
    if not (cell_or_layer.return_sequences and cell_or_layer.return_state):
      raise ValueError("a recurrent layer given by the cell factory needs "
                       "return_sequences=True and return_state=True")
    return cell_or_layer
  return keras.layers.RNN(cell_or_layer, return_sequences=True,
                          return_state=True)


def build_language_model(cell_factory: CellFactory, vocab_size: int,
                         embedding_size: int, hidden_size: int,
                         num_layers: int, input_dropout: float = 0.0,
                         layer_dropout: float = 0.0,
                         output_dropout: float = 0.0,
                         tie_weights: bool = False, init_scale: float = 0.05,
                         seed: int | None = None) -> LanguageModel:
  """Builds (and creates the weights of) a word-level language model.

  Args:
    cell_factory: ``units -> cell`` (a Keras RNN cell with state [h, c]), or
      ``units -> keras.layers.RNN`` with return_sequences and return_state
      (e.g. `keras.layers.LSTM`).
    vocab_size: number of word ids.
    embedding_size: word vector size.
    hidden_size: units of every recurrent layer.
    num_layers: number of stacked recurrent layers.
    input_dropout: variational dropout rate on the embeddings.
    layer_dropout: variational dropout rate between recurrent layers.
    output_dropout: variational dropout rate before the softmax.
    tie_weights: reuse the embedding matrix as the output projection (a
      hidden -> embedding map is added when the sizes differ).
    init_scale: embedding and softmax weights ~ U(-init_scale, init_scale);
      the cells use their own initializers.
    seed: dropout seed (None: from the global seed).

  Returns:
    The built `LanguageModel`.
  """
  model = LanguageModel(cell_factory, vocab_size, embedding_size, hidden_size,
                        num_layers, input_dropout, layer_dropout,
                        output_dropout, tie_weights, init_scale, seed)
  model(np.zeros((1, 1), np.int32), states=model.initial_state(1))
  return model


def make_train_step(model, optimizer: keras.optimizers.Optimizer,
                    clip_norm: float, jit_compile: bool = False):
  """One SGD step on one window: ``step(x, y, states) -> (nll, new_states)``.

  The gradient is that of the NLL summed over time steps and averaged over
  the batch (Zaremba et al. 2014), clipped to global norm `clip_norm`; `nll`
  is the mean per-word NLL of the window.
  """
  variables = model.trainable_variables
  optimizer.build(variables)

  @tf.function(reduce_retracing=True, jit_compile=jit_compile)
  def step(x, y, states):
    with tf.GradientTape() as tape:
      logits, new_states = model(x, states=states, training=True)
      nll = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels=y, logits=logits))
      loss = nll * tf.cast(tf.shape(x)[1], nll.dtype)
    grads = tape.gradient(loss, variables)
    grads, _ = tf.clip_by_global_norm(grads, clip_norm)
    optimizer.apply_gradients(zip(grads, variables))
    return nll, new_states

  return step


@dataclasses.dataclass(frozen=True)
class EpochResult:
  """What `run_epoch` returns.

  Attributes:
    losses: mean per-word training NLL of every window, in order.
    states: the state after the last window.
  """

  losses: list[float]
  states: list


def run_epoch(step, data: np.ndarray, bptt: int, states,
              max_steps: int | None = None) -> EpochResult:
  """Runs `step` over the windows of `data`, carrying the state forward.

  Args:
    step: ``step(x, y, states) -> (nll, new_states)`` (`make_train_step`).
    data: a `batchify`d array ``(batch, steps)``.
    bptt: window length.
    states: the state the first window starts from (zeros at epoch start).
    max_steps: stop after this many windows (None: all).

  Raises:
    NonFiniteLossError: a window's loss is NaN or infinite.
  """
  losses = []
  windows = len(range(0, data.shape[1] - 1, bptt))
  for x, y in progress.track(lm.windows(data, bptt), "step", total=min(windows, max_steps or windows), unit="step"):
    if max_steps is not None and len(losses) >= max_steps:
      break
    nll, states = step(tf.constant(x), tf.constant(y), states)
    nll = float(nll)
    if not math.isfinite(nll):
      raise NonFiniteLossError(
          f"training loss is {nll} at window {len(losses)}")
    losses.append(nll)
  return EpochResult(losses, states)


def evaluate_perplexity(model, ids: np.ndarray, batch_size: int,
                        bptt: int) -> float:
  """Word-level perplexity of `model` on the stream `ids` (`child.lm`).

  ``exp(sum of -log p(w) over all predicted words / number of them)``, with
  `ids` laid out by `batchify` (its last ``len(ids) % batch_size`` words are
  dropped) and read window by window with the state carried across windows,
  from zero; every word of every row but the first is predicted once,
  including those in a last, shorter window. Inf when it overflows.
  """

  @tf.function(reduce_retracing=True)
  def window_nll(x, y, states):
    logits, new_states = model(x, states=states, training=False)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=y, logits=tf.cast(logits, tf.float32))
    return tf.reduce_sum(nll), tf.size(nll), new_states

  return lm.perplexity(*lm.stream_nll(
      window_nll, ids, batch_size, bptt, model.initial_state(batch_size)))


def reward_from_perplexity(ppl: float, c: float = 80.0,
                           power: float = 2) -> float:
  """The controller's reward ``c / ppl ** power`` (Zoph & Le §3.4).

  A NaN, infinite or non-positive perplexity earns 0.
  """
  if not math.isfinite(ppl) or ppl <= 0:
    return 0.0
  return c / ppl ** power


@gin.configurable
@dataclasses.dataclass(frozen=True)
class LanguageModelConfig:
  """How a language-model child is built, trained and scored.

  Defaults follow Zaremba et al. 2014 "medium" (Zoph & Le §4.2 size their
  search children to its parameter count) with variational dropout; the
  hidden size that matches that count depends on the cell, so set it per
  experiment.

  Attributes:
    embedding_size: word vector size.
    hidden_size: units per recurrent layer.
    num_layers: stacked recurrent layers.
    input_dropout: variational dropout on the embeddings.
    layer_dropout: variational dropout between layers.
    output_dropout: variational dropout before the softmax.
    tie_weights: share the embedding matrix with the softmax.
    init_scale: uniform init range of embedding and softmax weights.
    batch_size: training rows (parallel streams).
    bptt: truncated-BPTT window length.
    epochs: training epochs (the paper trains search children 35 epochs).
    max_steps_per_epoch: cap on windows per epoch (None: whole epoch).
    learning_rate: initial SGD learning rate.
    lr_decay: multiplies the learning rate once per epoch from
      `decay_start_epoch` (1-based) on.
    decay_start_epoch: first epoch that trains with a decayed rate is
      ``decay_start_epoch + 1``.
    clip_norm: global gradient norm clip.
    eval_batch_size: rows when computing validation / test perplexity.
    max_eval_tokens: evaluate on the first this many words (None: all).
    evaluate_test: also compute test perplexity.
    reward_c: the reward's constant c.
    reward_power: the reward's power of perplexity.
    jit_compile: XLA-compile the training step.
  """

  embedding_size: int = 650
  hidden_size: int = 650
  num_layers: int = 2
  input_dropout: float = 0.5
  layer_dropout: float = 0.5
  output_dropout: float = 0.5
  tie_weights: bool = False
  init_scale: float = 0.05
  batch_size: int = 20
  bptt: int = 35
  epochs: int = 35
  max_steps_per_epoch: Optional[int] = None
  learning_rate: float = 1.0
  lr_decay: float = 1 / 1.2
  decay_start_epoch: int = 6
  clip_norm: float = 5.0
  eval_batch_size: int = 10
  max_eval_tokens: Optional[int] = None
  evaluate_test: bool = False
  reward_c: float = 80.0
  reward_power: float = 2.0
  jit_compile: bool = False

  def __post_init__(self):
    config_check.check(
        self, positive=("embedding_size", "hidden_size", "num_layers",
                        "batch_size", "bptt", "epochs", "max_steps_per_epoch",
                        "eval_batch_size", "max_eval_tokens"),
        non_negative=("init_scale", "learning_rate", "lr_decay",
                      "decay_start_epoch", "clip_norm", "reward_c",
                      "reward_power"),
        unit=("input_dropout", "layer_dropout", "output_dropout"))

  def learning_rate_at(self, epoch: int) -> float:
    """The learning rate of 0-based `epoch`."""
    return self.learning_rate * self.lr_decay ** max(
        0, epoch + 1 - self.decay_start_epoch)


def _limit(ids: np.ndarray, max_tokens: int | None) -> np.ndarray:
  return ids if max_tokens is None else ids[:max_tokens]


def export(model: LanguageModel, output_dir: str, vocab=None) -> dict[str, str]:
  """Writes ``model.keras``, ``saved_model/`` (and ``vocab.txt``) to `output_dir`.

  The SavedModel (`child.export`) has two signatures: ``serving_default``
  maps ``ids`` (int32 ``[batch, time]``) to ``logits`` (``[batch, time,
  vocab]``, no dropout) and ``state`` from the zero state; ``step`` also
  takes ``state`` (float32 ``[layers, 2, batch, hidden]``: each layer's h
  and c) to carry it from one window to the next.

  Returns:
    The paths written, by kind (``keras``, ``saved_model``, ``vocab``).
  """
  from child import export as export_lib  # pylint: disable=g-import-not-at-top
  ids_spec = tf.TensorSpec([None, None], tf.int32, name="ids")
  state_spec = tf.TensorSpec([model.num_layers, 2, None, model.hidden_size],
                             tf.float32, name="state")

  def step(ids, state):
    logits, states = model(ids, states=[[state[i, 0], state[i, 1]] for i in
                                        range(model.num_layers)],
                           training=False)
    return {"logits": logits, "state": tf.stack([tf.stack(s) for s in states])}

  def serve(ids):
    batch = tf.shape(ids)[0]
    return step(ids, tf.zeros([model.num_layers, 2, batch, model.hidden_size]))

  paths = export_lib.export_keras_model(
      model, output_dir,
      {"serve": (serve, [ids_spec]), "step": (step, [ids_spec, state_spec])})
  if vocab is not None:
    paths["vocab"] = export_lib.save_vocab(vocab, output_dir)
  return paths


def train_language_model(spec_or_cell: CellLike, corpus,
                         config: LanguageModelConfig | None = None,
                         seed: int = 0,
                         latency: latency_lib.LatencyConfig | None = None,
                         *, export_dir: str | None = None
                         ) -> outcome.Outcome:
  """Trains one child language model and scores it (Zoph & Le §3.4).

  Args:
    spec_or_cell: what `child.nas_tree_cell.cell.cell_factory` accepts: an
      architecture of `tree_cell_space`, a `TreeCellSpec`, ``"lstm"``,
      ``"nas"`` or a ``units -> cell`` callable.
    corpus: has int id arrays ``train``, ``valid``, ``test`` and ``vocab``
      (`child.datasets.TextCorpus`).
    config: settings (None: `LanguageModelConfig()` as gin binds it).
    seed: seeds Python, NumPy and TensorFlow (weights, dropout).
    latency: with ``runs > 0``, also time one inference forward pass of a
      batch of ``batch_size`` sequences of one ``bptt`` window (`child.latency`).
    export_dir: if given, the trained model goes there (`export`).

  Returns:
    An `Outcome` with ``reward`` (`reward_from_perplexity` of the validation
    perplexity), ``valid_ppl``, ``test_ppl`` (when `config.evaluate_test`),
    ``params``, ``flops`` per token (`child.nas_tree_cell.cost`; None for a
    cell given as a callable) and, with `latency`, ``latency``. Never raises: a diverging child (NaN / infinite loss or
    perplexity) or any exception while building, training or evaluating
    (e.g. out of memory) gives status "failed" and reward 0, as for every
    child (`child.outcome.run_guarded`).
  """
  config = config or LanguageModelConfig()
  return outcome.run_guarded(
      lambda measured: _train(spec_or_cell, corpus, config, seed, latency,
                              measured, export_dir))


def _train(spec_or_cell: CellLike, corpus, config: LanguageModelConfig,
           seed: int, latency: latency_lib.LatencyConfig | None,
           measured: dict, export_dir: str | None = None) -> str:
  """Builds, trains and scores; fills `measured`; returns an error line or ''."""
  keras.utils.set_random_seed(seed)
  model = build_language_model(
      make_cell_factory(spec_or_cell), len(corpus.vocab),
      config.embedding_size, config.hidden_size, config.num_layers,
      config.input_dropout, config.layer_dropout, config.output_dropout,
      config.tie_weights, config.init_scale, seed)
  measured["params"] = int(sum(np.prod(v.shape)
                               for v in model.trainable_variables))
  counted = cost_lib.cost(
      spec_or_cell, vocab_size=len(corpus.vocab),
      embedding_size=config.embedding_size, hidden_size=config.hidden_size,
      num_layers=config.num_layers, tie_weights=config.tie_weights)
  if counted is not None:
    measured["flops"] = counted["flops"]
  optimizer = keras.optimizers.SGD(learning_rate=config.learning_rate)
  step = make_train_step(model, optimizer, config.clip_norm,
                         config.jit_compile)
  train = batchify(corpus.train, config.batch_size)
  # A final training (one with a model directory) commits after each epoch;
  # every epoch starts from the zero state, so weights, optimizer slots and
  # the dropout generators' states are all a resume needs.
  state = list(model.variables) + list(optimizer.variables)
  first_epoch = 0
  if export_dir:
    os.makedirs(export_dir, exist_ok=True)
    resumed = epoch_checkpoint.restore(export_dir, state)
    first_epoch = resumed[0]["epoch"] + 1 if resumed else 0
  for epoch in progress.track(range(first_epoch, config.epochs), "child epoch", unit="epoch"):
    optimizer.learning_rate = config.learning_rate_at(epoch)
    result = run_epoch(step, train, config.bptt,
                       model.initial_state(config.batch_size),
                       config.max_steps_per_epoch)
    summaries.epoch(epoch + 1, train_loss=float(np.mean(result.losses)), lr=config.learning_rate_at(epoch))
    if export_dir:
      epoch_checkpoint.save(export_dir, epoch, state, {})
  valid_ppl = evaluate_perplexity(
      model, _limit(corpus.valid, config.max_eval_tokens),
      config.eval_batch_size, config.bptt)
  if not math.isfinite(valid_ppl):
    return f"validation perplexity is {valid_ppl}"
  measured["valid_ppl"] = valid_ppl
  measured["reward"] = reward_from_perplexity(valid_ppl, config.reward_c,
                                              config.reward_power)
  if config.evaluate_test:
    measured["test_ppl"] = evaluate_perplexity(
        model, _limit(corpus.test, config.max_eval_tokens),
        config.eval_batch_size, config.bptt)
  if latency is not None and latency.runs > 0:
    measured["latency"] = _latency(model, config.bptt, latency)
  if export_dir:
    export(model, export_dir, corpus.vocab)
  return ""


def _latency(model, bptt: int, config: latency_lib.LatencyConfig) -> float:
  """Median seconds of one inference forward pass of a batch of windows."""
  ids = tf.zeros((config.batch_size, bptt), tf.int32)
  states = model.initial_state(config.batch_size)
  forward = tf.function(lambda x, s: model(x, states=s, training=False)[0])
  return latency_lib.median_seconds(lambda: forward(ids, states).numpy(),
                                    config.runs)
