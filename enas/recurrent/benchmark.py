"""What the ENAS RNN benchmark times besides the supergraph, and its cells.

`FixedRnnLM` is ONE cell's language model built alone: the standalone child
that ``python -m experiments.bench_enas --space=rnn`` (driver in
`experiments/bench_enas_rnn.py`) times against the shared-weight
`RnnSupergraph` step. `random_arcs` draws distinct random cells, for that
benchmark and for the tests.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from enas.recurrent import space as rnn_space
from enas.recurrent import supergraph as sg


class FixedRnnLM(tf.Module):
  """The language model of ONE cell: its choices are Python constants.

  Same embedding, dropouts, loss, clipping and SGD as `RnnSupergraph`, but
  only that cell's weights (node 0 and one ``[H, 2H]`` matrix per node) and
  no gathers or control flow.
  """

  def __init__(self, cell: rnn_space.RnnCell, *, vocab_size: int,
               hidden_size: int, dropout: sg.Dropout = sg.Dropout(),  # noqa: B008  (frozen)
               grad_bound: float = 10.0, l2_reg: float = 1e-7,
               seed: int = 0):
    super().__init__(name="fixed_rnn_lm")
    self.cell = cell
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.dropout = dropout
    self.grad_bound = grad_bound
    self.l2_reg = l2_reg
    weight = sg.uniform_weights(seed, sg.default_init_range(hidden_size))

    self.embedding = weight("embedding", [vocab_size, hidden_size])
    self.node0_weights = weight("node0", [2 * hidden_size, 2 * hidden_size])
    self.node_weights = [weight(f"node{i}", [hidden_size, 2 * hidden_size])
                         for i in range(1, cell.num_nodes)]
    self._rng = tf.random.Generator.from_seed(seed + 1)
    ids_spec = tf.TensorSpec([None, None], tf.int32)
    self._train_fn = tf.function(self._train, input_signature=(
        ids_spec, ids_spec, tf.TensorSpec([None, hidden_size], tf.float32),
        tf.TensorSpec([], tf.float32)))

  def train_step(self, x, y, state, learning_rate):
    """Returns (mean NLL per token, state to carry)."""
    return self._train_fn(x, y, state, tf.cast(learning_rate, tf.float32))

  def _train(self, x, y, state, learning_rate):
    variables = [self.embedding, self.node0_weights, *self.node_weights]
    masks = sg.sample_masks(self._rng, x, self.vocab_size, self.hidden_size,
                            self.dropout)
    wiring = sg.fixed_wiring(self.cell, self.node_weights)
    with tf.GradientTape() as tape:
      nll, h_last = sg.lm_nll(self.embedding, self.node0_weights, wiring, x, y,
                              state, masks)
      objective = tf.reduce_sum(nll) / tf.cast(tf.shape(x)[0], tf.float32)
      if self.l2_reg:
        objective += self.l2_reg * tf.add_n(
            [tf.reduce_sum(tf.square(w)) for w in variables])
    grads = tape.gradient(objective, variables)
    if self.grad_bound:
      grads, _ = tf.clip_by_global_norm(grads, self.grad_bound)
    sg.sgd_apply(variables, grads, learning_rate)
    return tf.reduce_mean(nll), tf.stop_gradient(h_last)


def random_arcs(space, count: int, seed: int) -> list[tuple[int, ...]]:
  """`count` distinct uniformly random architectures (token tuples)."""
  rng = np.random.default_rng(seed)
  num_nodes = space.meta("num_nodes")
  num_acts = len(rnn_space.ACTIVATIONS)
  arcs: dict[tuple[int, ...], None] = {}
  while len(arcs) < count:
    tokens = [int(rng.integers(num_acts))]
    for node in range(1, num_nodes):
      tokens += [int(rng.integers(node)), int(rng.integers(num_acts))]
    arcs[space.validate(tokens)] = None
  return list(arcs)
