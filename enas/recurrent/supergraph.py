"""The ENAS recurrent-cell supergraph: one set of shared weights, one compiled step.

Pham et al. 2018, §2.2. Every cell of `enas.recurrent.space.rnn_cell_space` is a
subgraph of one DAG over `num_nodes` nodes, with these computations:

  node 0:  c_0 = sigmoid(x_t W_xc + h_{t-1} W_hc)
           h_0 = c_0 * act_0(x_t W_xh + h_{t-1} W_hh) + (1 - c_0) * h_{t-1}
  node i:  c_i = sigmoid(h_j W^c_{i,j})
           h_i = c_i * act_i(h_j W^h_{i,j}) + (1 - c_i) * h_j,  j = prev_i
  h_t   =  mean of the loose ends (nodes no other node reads).

Shared weights (default, ``weights_per_activation=True``): one block per
(node, previous node, activation), as both official codes (melodyguan/enas
4bcfd73 ``src/ptb/ptb_enas_child.py`` ``_build_params``: ``w_prev`` of
``[2 A H, 2H]`` and per node ``w`` of ``[A i H, 2H]``, a block picked by
``(prev * A + act)``; google-research enas_lm ``src/child.py``: ``w`` of
``[A, i, H, 2H]``): node 0's ``[A, 2H, 2H]`` variable (rows x | h, columns
h-part | c-part; block ``act_0``) and a single ``[P A, H, 2H]`` variable for
the ``P = N (N - 1) / 2`` pairs (i, j), j < i, block (i, j, a) at row
``(i (i - 1) / 2 + j) A + a`` (`block_index`). With ``A = 4`` activations
the shared parameters are ``V H + A H^2 (4 + N (N - 1))``: 289,209,600 at
the official search sizes (V 10,000, H 720, N 12; 1.16 GB in float32).

Option ``weights_per_activation=False`` (the paper's W_{i,j}, §2.2, which
has no activation index): one block per (node, previous node) shared by the
four activations, node 0 ``[2H, 2H]`` and pairs ``[P, H, 2H]`` at row
``i (i - 1) / 2 + j``: ``V H + H^2 (4 + N (N - 1))`` = 77,702,400 at the
same sizes (311 MB). Either way the compiled step gathers the same N blocks
(one ``[2H, 2H]``, N - 1 ``[H, 2H]``), so its activations, gradients
(``IndexedSlices`` over the gathered rows) and update are the same size;
only the variables (and a checkpoint of them) grow, by ``(A - 1) H^2 (4 +
N (N - 1))`` = 211,507,200 floats (846 MB) at the search sizes.

One compiled function serves every architecture: the arc is an int32 tensor
argument of a `tf.function` with a fixed input signature. The chosen
blocks are fetched with one `tf.gather` per variable and step, at rows
computed from the arc's (prev, activation) tokens (their gradient is an
`IndexedSlices` over those rows only, applied with a scatter update, so an
unchosen block is never touched), the previous node with a gather over the
stacked earlier nodes, and the loose-end average with a 0/1 mask computed
from the arc. Activations use `tf.switch_case` by default, which runs only
the chosen activation; the alternative ``activation_select="onehot"``
computes all four and sums them weighted by a one-hot vector: no control
flow, but 4x the elementwise work and 4x the activation memory kept for the
backward pass, for every node and time step. Measured at the search sizes on
a shared 2-core CPU (indicative): switch about 1.1x the step time of the same
cell compiled alone, onehot about 1.5-1.8x (`enas.recurrent.benchmark`).

Differences from google-research ``enas_lm`` (src/child.py), on purpose:
  * enas_lm averages ALL nodes but node 0; here the loose ends (paper, and
    the official melodyguan code).
  * enas_lm fixes node 0 to tanh; here node 0's activation is searched.
  * enas_lm's weight decay is ``l2_loss(w ** 2)`` (a 4th power) on the chosen
    matrices except node 1's; here ``l2 * sum(w ** 2)`` (melodyguan) on all
    the sampled child's weights: embedding, node 0 and the chosen pairs.
The melodyguan search code adds batch norm inside the cell; neither the paper
nor enas_lm has it, so it is left out.

Training settings follow melodyguan ``scripts/ptb_search.sh`` (the enas_lm
search instead uses batch 128, hidden 200, lr 20 on a per-token mean loss,
grad bound 0.1): hidden 720, variational dropout with keep probabilities
embedding 0.75 (word dropout: a dropped word is zero at every position of
that sequence), x 0.25 (x_t entering node 0), h 0.75 (h_{t-1} entering node 0
and every node's input h_j; one mask shared by all), output 0.25 (h_t before
the softmax); SGD on ``sum_t NLL / batch + l2 * sum(w^2)`` with the gradient
clipped to global norm 10, l2 1e-7; the softmax weights are the embedding
(tied, as both official codes). Masks are drawn once per batch, shared over
the time steps. The state carried between batches is not back-propagated
through (truncated BPTT).

Exploding children: ReLU and identity nodes make some sampled cells expand
their state from step to step, and over a 35-step window a rare one
overflows, giving a non-finite loss or gradient norm (clipping an infinite
norm yields NaN everywhere). Such a step is skipped: no update, the carried
state restarts at zero, and `skipped_steps` counts it, so one bad sample
cannot poison the shared weights (melodyguan/enas keeps batch norm in the
cell; enas_lm rolls back to the last checkpoint on a NaN).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import gin
import numpy as np
import tensorflow as tf

from controller.search_space import Architecture, SearchSpace
from enas.recurrent import space as rnn_space

ACTIVATION_FNS = (tf.tanh, tf.nn.relu, tf.identity, tf.sigmoid)
"""Activation functions by id, in `rnn_space.ACTIVATIONS` order."""

ACTIVATION_SELECTS = ("switch", "onehot")

NUM_ACTIVATIONS = len(ACTIVATION_FNS)


def pair_index(node, prev):
  """Index of the pair (node, prev), prev < node, among the ``N (N - 1) / 2``
  (ints or int32 tensors)."""
  return node * (node - 1) // 2 + prev


def block_index(node, prev, activation, num_activations: int):
  """Row of the pair-weights variable holding node `node`'s block.

  Args:
    node: i >= 1 (int or int32 tensor).
    prev: the node it reads, j < i.
    activation: its activation id.
    num_activations: blocks per pair: `NUM_ACTIVATIONS` (one per activation,
      the official layout) or 1 (one per pair, shared by the activations;
      `activation` is then ignored).
  """
  pair = pair_index(node, prev)
  if num_activations == 1:
    return pair
  return pair * num_activations + activation


def default_init_range(hidden_size: int) -> float:
  """Uniform init range of the official PTB code, by hidden size."""
  if hidden_size <= 300:
    return 0.1
  if hidden_size <= 400:
    return 0.05
  return 0.04


def num_shared_params(vocab_size: int, hidden_size: int, num_nodes: int,
                      weights_per_activation: bool = True) -> int:
  """Parameters of `RnnSupergraph`: ``V H + A H^2 (4 + N (N - 1))``.

  A = `NUM_ACTIVATIONS` with `weights_per_activation`, else 1: the embedding
  (tied softmax), A node-0 blocks of ``[2H, 2H]`` and A blocks of ``[H, 2H]``
  for each of the ``N (N - 1) / 2`` pairs. At the official search sizes (V
  10,000, H 720, N 12): 289,209,600 per activation, 77,702,400 per pair.
  """
  blocks = NUM_ACTIVATIONS if weights_per_activation else 1
  pairs = max(num_nodes * (num_nodes - 1) // 2, 1)
  return (vocab_size * hidden_size
          + blocks * (4 + 2 * pairs) * hidden_size * hidden_size)


def uniform_weights(seed: int, scale: float, rows_per_draw: int = 8):
  """``weight(name, shape)``: variables uniform in [-scale, scale], drawn in
  call order from one generator seeded with `seed` (the official init).

  A stacked weight (3 or more dimensions: one block per row) is drawn
  `rows_per_draw` blocks at a time into a zero variable, so building the
  289M-weight search supergraph holds one copy of it, not three (peak RSS
  1.8 instead of 3.9 GiB for the [264, 720, 1440] blocks).
  """
  init = tf.random.Generator.from_seed(seed)

  def weight(name: str, shape) -> tf.Variable:
    shape = [int(d) for d in shape]
    if len(shape) < 3:
      return tf.Variable(init.uniform(shape, -scale, scale), name=name)
    var = tf.Variable(tf.zeros(shape), name=name)
    for start in range(0, shape[0], rows_per_draw):
      rows = min(rows_per_draw, shape[0] - start)
      var.scatter_update(tf.IndexedSlices(
          init.uniform([rows] + shape[1:], -scale, scale),
          tf.range(start, start + rows)))
    return var

  return weight


@dataclasses.dataclass(frozen=True)
class Dropout:
  """Keep probabilities of the variational dropouts (1.0 = off).

  Attributes:
    embedding: keep probability of a word (per sequence, all positions).
    x: of each unit of x_t entering node 0.
    h: of each unit of h_{t-1} and of every node's input.
    output: of each unit of h_t before the softmax.
  """

  embedding: float = 0.75
  x: float = 0.25
  h: float = 0.75
  output: float = 0.25


@dataclasses.dataclass(frozen=True)
class CellWiring:
  """What the unrolled cell computes at each step.

  A fixed cell holds Python ints (no gathers, no control flow); the
  supergraph holds scalar int32 tensors read from the arc tensor.

  Attributes:
    activations: activation id of each of the N nodes.
    prev: the node each node reads (``prev[0]`` is unused).
    node_weights: ``[H, 2H]`` matrix of nodes 1..N-1.
    loose: fixed cell: indices of the loose ends; supergraph: float ``[N]``
      mask, 1 for a loose end.
  """

  activations: Sequence[Any]
  prev: Sequence[Any]
  node_weights: Sequence[tf.Tensor]
  loose: Any


def fixed_wiring(cell: rnn_space.RnnCell,
                 node_weights: Sequence[tf.Tensor]) -> CellWiring:
  """Wiring of one known cell, its choices as Python constants."""
  return CellWiring(activations=cell.activations, prev=cell.prev,
                    node_weights=node_weights, loose=cell.loose_ends)


def arc_wiring(arc: tf.Tensor, pair_weights: tf.Tensor, num_nodes: int,
               num_activations: int = 1) -> CellWiring:
  """Wiring read from an int32 arc tensor of ``2 N - 1`` tokens.

  Args:
    arc: tokens in sampling order ``act_0 prev_1 act_1 ...``.
    pair_weights: the shared ``[P A, H, 2H]`` variable (or its value).
    num_nodes: N.
    num_activations: A, blocks per pair (see `block_index`).

  Returns:
    The wiring; its node weights are one gather of the chosen blocks.
  """
  activations = tf.concat([arc[:1], arc[2::2]], axis=0)
  prev = arc[1::2]
  nodes = tf.range(1, num_nodes, dtype=tf.int32)
  chosen = tf.gather(pair_weights, block_index(nodes, prev, activations[1:],
                                               num_activations))
  used = tf.reduce_max(tf.one_hot(prev, num_nodes), axis=0)
  return CellWiring(
      activations=tf.unstack(activations, num=num_nodes),
      prev=[None] + tf.unstack(prev, num=num_nodes - 1),
      node_weights=tf.unstack(chosen, num=num_nodes - 1),
      loose=tf.unstack(1.0 - used, num=num_nodes))


def _activate(z: tf.Tensor, activation: Any, select: str) -> tf.Tensor:
  if isinstance(activation, int):
    return ACTIVATION_FNS[activation](z)
  if select == "onehot":
    weights = tf.one_hot(activation, len(ACTIVATION_FNS), dtype=z.dtype)
    return tf.add_n([weights[k] * fn(z) for k, fn in enumerate(ACTIVATION_FNS)])
  return tf.switch_case(activation,
                        [lambda fn=fn: fn(z) for fn in ACTIVATION_FNS])


def _highway(z: tf.Tensor, carry: tf.Tensor, activation: Any,
             select: str) -> tf.Tensor:
  """c * act(z_h) + (1 - c) * carry with c = sigmoid(z_c) (§2.2)."""
  candidate, gate = tf.split(z, 2, axis=-1)
  gate = tf.sigmoid(gate)
  return carry + gate * (_activate(candidate, activation, select) - carry)


def cell_step(x: tf.Tensor, h: tf.Tensor, node0_weights: tf.Tensor,
              wiring: CellWiring, x_mask=None, h_mask=None,
              select: str = "switch") -> tf.Tensor:
  """One time step of the DAG cell; returns h_t ``[B, H]``.

  Args:
    x: ``[B, H]`` input embedding x_t.
    h: ``[B, H]`` previous state h_{t-1}.
    node0_weights: ``[2H, 2H]``.
    wiring: the cell.
    x_mask: optional dropout mask for x_t.
    h_mask: optional dropout mask for h_{t-1} and every node's input.
    select: how a tensor activation id is applied ("switch" or "onehot").
  """
  x_in = x if x_mask is None else x * x_mask
  h_in = h if h_mask is None else h * h_mask
  z = tf.matmul(tf.concat([x_in, h_in], axis=-1), node0_weights)
  nodes = [_highway(z, h, wiring.activations[0], select)]
  for node in range(1, len(wiring.activations)):
    prev = wiring.prev[node]
    if isinstance(prev, int):
      source = nodes[prev]
    else:
      source = tf.gather(tf.stack(nodes), prev)
    source_in = source if h_mask is None else source * h_mask
    z = tf.matmul(source_in, wiring.node_weights[node - 1])
    nodes.append(_highway(z, source, wiring.activations[node], select))
  if isinstance(wiring.loose, tf.Tensor) or not all(
      isinstance(k, int) for k in wiring.loose):
    total = tf.add_n([m * n for m, n in zip(wiring.loose, nodes)])
    return total / tf.add_n(list(wiring.loose))
  return tf.add_n([nodes[k] for k in wiring.loose]) / float(len(wiring.loose))


def unroll(emb: tf.Tensor, h0: tf.Tensor, node0_weights: tf.Tensor,
           wiring: CellWiring, x_mask=None, h_mask=None,
           select: str = "switch") -> tuple[tf.Tensor, tf.Tensor]:
  """Runs the cell over ``emb [B, T, H]``; returns (outputs [B, T, H], h_T)."""
  steps = tf.shape(emb)[1]
  inputs = tf.TensorArray(emb.dtype, size=steps).unstack(
      tf.transpose(emb, [1, 0, 2]))
  outputs = tf.TensorArray(emb.dtype, size=steps)

  def body(t, h, outputs):
    h = cell_step(inputs.read(t), h, node0_weights, wiring, x_mask, h_mask,
                  select)
    return t + 1, h, outputs.write(t, h)

  _, h_last, outputs = tf.while_loop(
      lambda t, *_: t < steps, body, (tf.constant(0), h0, outputs))
  return tf.transpose(outputs.stack(), [1, 0, 2]), h_last


def sample_masks(rng: tf.random.Generator, x: tf.Tensor, vocab_size: int,
                 hidden_size: int, dropout: Dropout) -> dict[str, tf.Tensor]:
  """Variational dropout masks for one batch (scaled by 1 / keep)."""
  batch = tf.shape(x)[0]

  def mask(shape, keep):
    return tf.floor(rng.uniform(shape) + keep) / keep

  words = mask([batch, vocab_size], dropout.embedding)
  return {
      "embedding": tf.gather(words, x, batch_dims=1)[..., None],
      "x": mask([batch, hidden_size], dropout.x),
      "h": mask([batch, hidden_size], dropout.h),
      "output": mask([batch, hidden_size], dropout.output)[:, None, :],
  }


def lm_nll(embedding: tf.Tensor, node0_weights: tf.Tensor, wiring: CellWiring,
           x: tf.Tensor, y: tf.Tensor, state: tf.Tensor, masks=None,
           select: str = "switch") -> tuple[tf.Tensor, tf.Tensor]:
  """Per-token NLL ``[B, T]`` of the tied-embedding language model, and h_T."""
  masks = masks or {}
  emb = tf.nn.embedding_lookup(embedding, x)
  if "embedding" in masks:
    emb = emb * masks["embedding"]
  outputs, h_last = unroll(emb, state, node0_weights, wiring, masks.get("x"),
                           masks.get("h"), select)
  if "output" in masks:
    outputs = outputs * masks["output"]
  logits = tf.einsum("bth,vh->btv", outputs, embedding)
  nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
  return nll, h_last


def sgd_apply(variables, grads, learning_rate) -> None:
  """Plain SGD; `IndexedSlices` gradients update only their rows."""
  for var, grad in zip(variables, grads):
    if grad is None:
      continue
    if isinstance(grad, tf.IndexedSlices):
      var.scatter_sub(tf.IndexedSlices(learning_rate * grad.values,
                                       grad.indices, grad.dense_shape))
    else:
      var.assign_sub(learning_rate * grad)


def _tokens(space: SearchSpace, arc_tokens):
  """Tokens as an int32 array, validated unless already a tensor."""
  if isinstance(arc_tokens, Architecture):
    arc_tokens = arc_tokens.tokens
  if isinstance(arc_tokens, tf.Tensor):
    return arc_tokens
  return np.asarray(space.validate(arc_tokens), dtype=np.int32)


@gin.configurable
class RnnSupergraph(tf.Module):
  """Shared-weight ENAS language model over every cell of an RNN cell space.

  A `tf.Module` with plain variables: the pair weights are read with gathers
  and written with scatter updates, which Keras layers would hide.

  Attributes:
    space: the `rnn_cell_space` it serves.
    embedding: ``[V, H]``, also the softmax weights.
    node0_weights: ``[A, 2H, 2H]`` (block per activation), or ``[2H, 2H]``
      without `weights_per_activation`.
    pair_weights: ``[N (N - 1) / 2 * A, H, 2H]``, block (i, j, a) at
      `block_index` (A = 1 without `weights_per_activation`).
    num_activations: A, blocks per (node, previous node).
    skipped_steps: int64 count of training steps skipped for a non-finite
      loss or gradient.
  """

  def __init__(self, space: SearchSpace, *, vocab_size: int,
               hidden_size: int = 720, embedding_keep: float = 0.75,
               x_keep: float = 0.25, h_keep: float = 0.75,
               output_keep: float = 0.25, grad_bound: float = 10.0,
               l2_reg: float = 1e-7, init_range: float | None = None,
               activation_select: str = "switch",
               weights_per_activation: bool = True, seed: int = 0):
    """Builds the shared weights and the two compiled functions.

    Args:
      space: an `enas.recurrent.space.rnn_cell_space`.
      vocab_size: V.
      hidden_size: H (embedding size = hidden size, tied softmax).
      embedding_keep: word keep probability.
      x_keep: keep probability of x_t entering node 0.
      h_keep: keep probability of h_{t-1} and of every node input.
      output_keep: keep probability of h_t before the softmax.
      grad_bound: clip the gradient to this global norm (0 = no clipping).
      l2_reg: weight of ``sum(w^2)`` over the sampled child's weights.
      init_range: uniform init range; None = the official rule (0.04 above
        400 units).
      activation_select: "switch" (only the chosen activation runs) or
        "onehot" (all four, weighted sum).
      weights_per_activation: one weight block per (node, previous node,
        activation), as both official codes (default); False: one per
        (node, previous node) shared by the activations, as the paper's
        W_{i,j} (a quarter of the cell's shared weights).
      seed: seeds the initialisation and the dropout generator.
    """
    super().__init__(name="rnn_supergraph")
    if space.name != rnn_space.SPACE_NAME:
      raise ValueError(f"not an RNN cell space: {space.name}")
    if activation_select not in ACTIVATION_SELECTS:
      raise ValueError(f"activation_select must be one of {ACTIVATION_SELECTS}")
    self.space = space
    self.num_nodes = int(space.meta("num_nodes"))
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.dropout = Dropout(embedding_keep, x_keep, h_keep, output_keep)
    self.grad_bound = grad_bound
    self.l2_reg = l2_reg
    self.activation_select = activation_select
    weight = uniform_weights(seed, init_range
                             or default_init_range(hidden_size))
    num_pairs = self.num_nodes * (self.num_nodes - 1) // 2
    self.weights_per_activation = weights_per_activation
    self.num_activations = NUM_ACTIVATIONS if weights_per_activation else 1
    per_act = [self.num_activations] if weights_per_activation else []

    self.embedding = weight("embedding", [vocab_size, hidden_size])
    self.node0_weights = weight("node0", per_act + [2 * hidden_size,
                                                    2 * hidden_size])
    self.pair_weights = weight("pairs", [max(num_pairs, 1)
                                         * self.num_activations,
                                         hidden_size, 2 * hidden_size])
    self._rng = tf.random.Generator.from_seed(seed + 1)
    self._traces = 0
    self.skipped_steps = tf.Variable(0, dtype=tf.int64, trainable=False,
                                     name="skipped_steps")
    arc_spec = tf.TensorSpec([space.num_tokens], tf.int32)
    ids_spec = tf.TensorSpec([None, None], tf.int32)
    state_spec = tf.TensorSpec([None, hidden_size], tf.float32)
    self._train_fn = tf.function(self._train, input_signature=(
        ids_spec, ids_spec, arc_spec, state_spec,
        tf.TensorSpec([], tf.float32)))
    self._eval_fn = tf.function(self._eval, input_signature=(
        ids_spec, ids_spec, arc_spec, state_spec))

  @property
  def trace_count(self) -> int:
    """Python traces of the train and eval functions together (2 at most)."""
    return self._traces

  def initial_state(self, batch_size: int) -> tf.Tensor:
    return tf.zeros([batch_size, self.hidden_size])

  def checkpoint_variables(self) -> list[tf.Variable]:
    """What a resumed search restores: the weights and the dropout stream.

    Plain SGD keeps no slots, so with the dropout generator's state a resumed
    run continues bit for bit.
    """
    return [self.embedding, self.node0_weights, self.pair_weights,
            self._rng.state]

  def train_step(self, x, y, arc_tokens, state, learning_rate):
    """One SGD step of the sampled child on the shared weights.

    Args:
      x: ``[B, T]`` int32 input ids.
      y: ``[B, T]`` int32 target ids.
      arc_tokens: an `Architecture`, its tokens (sampling order, validated),
        or an int32 tensor of them (not validated: an out-of-range token
        would gather another block, or run sigmoid, `tf.switch_case`'s
        default).
      state: ``[B, H]`` state carried from the previous batch.
      learning_rate: scalar.

    Returns:
      (mean NLL per token of this batch, with dropout, before the update;
      the state to carry, ``[B, H]``). A step whose loss or gradient norm is
      non-finite updates nothing, returns a zero state and increments
      `skipped_steps`.
    """
    return self._train_fn(x, y, _tokens(self.space, arc_tokens), state,
                          tf.cast(learning_rate, tf.float32))

  def eval_loss(self, x, y, arc_tokens, state):
    """Summed NLL (no dropout), number of tokens, and the state to carry."""
    return self._eval_fn(x, y, _tokens(self.space, arc_tokens), state)

  def wiring(self, arc: tf.Tensor) -> tuple[tf.Tensor, CellWiring]:
    """Node 0's ``[2H, 2H]`` block and the wiring of an int32 arc tensor.

    Both read from the variables with gathers indexed by the arc's tokens,
    so the same trace serves every cell.
    """
    node0 = self.node0_weights
    if self.weights_per_activation:
      node0 = tf.gather(node0, arc[0])
    return node0, arc_wiring(arc, self.pair_weights, self.num_nodes,
                             self.num_activations)

  def cell_weights(self, cell) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """The blocks one cell reads: node 0's ``[2H, 2H]``, then one ``[H, 2H]``
    per node 1..N-1 (what a fixed model of that cell holds).

    Args:
      cell: an `rnn_space.RnnCell`, or what `rnn_space.decode_rnn` reads.
    """
    if not isinstance(cell, rnn_space.RnnCell):
      cell = rnn_space.decode_rnn(cell)
    act0 = cell.activations[0]
    node0 = (self.node0_weights[act0] if self.weights_per_activation
             else self.node0_weights)
    return node0, [
        self.pair_weights[block_index(i, cell.prev[i], cell.activations[i],
                                      self.num_activations)]
        for i in range(1, cell.num_nodes)]

  def child_weights(self, node0: tf.Tensor,
                    wiring: CellWiring) -> list[tf.Tensor]:
    """The sampled child's weights (what l2 applies to)."""
    return [self.embedding, node0, *wiring.node_weights]

  def _train(self, x, y, arc, state, learning_rate):
    self._traces += 1
    variables = [self.embedding, self.node0_weights, self.pair_weights]
    masks = sample_masks(self._rng, x, self.vocab_size, self.hidden_size,
                         self.dropout)
    with tf.GradientTape() as tape:
      node0, wiring = self.wiring(arc)
      nll, h_last = lm_nll(self.embedding, node0, wiring, x, y, state, masks,
                           self.activation_select)
      batch = tf.cast(tf.shape(x)[0], tf.float32)
      objective = tf.reduce_sum(nll) / batch
      if self.l2_reg:
        objective += self.l2_reg * tf.add_n(
            [tf.reduce_sum(tf.square(w))
             for w in self.child_weights(node0, wiring)])
    grads = tape.gradient(objective, variables)
    norm = tf.linalg.global_norm(grads)
    finite = tf.math.logical_and(tf.math.is_finite(norm),
                                 tf.math.is_finite(objective))
    if self.grad_bound:
      grads, _ = tf.clip_by_global_norm(grads, self.grad_bound, use_norm=norm)

    def apply():
      sgd_apply(variables, grads, learning_rate)
      return tf.constant(0, tf.int64)

    self.skipped_steps.assign_add(
        tf.cond(finite, apply, lambda: tf.constant(1, tf.int64)))
    h_last = tf.where(finite, h_last, tf.zeros_like(h_last))
    return tf.reduce_mean(nll), tf.stop_gradient(h_last)

  def _eval(self, x, y, arc, state):
    self._traces += 1
    node0, wiring = self.wiring(arc)
    nll, h_last = lm_nll(self.embedding, node0, wiring, x, y, state,
                         select=self.activation_select)
    return tf.reduce_sum(nll), tf.size(nll), h_last


def child_eval_window(supergraph: RnnSupergraph, arc_tokens):
  """One child's ``eval_window(x, y, state) -> (summed NLL, count, state)``.

  What `child.lm.stream_nll` reads a stream with: the child's NLL without
  dropout, through the shared weights.
  """
  return lambda x, y, state: supergraph.eval_loss(x, y, arc_tokens, state)
