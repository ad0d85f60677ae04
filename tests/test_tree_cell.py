"""Zoph & Le 2017 §3.4: the tree cell computes what its spec says."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # pylint: disable=g-import-not-at-top
import numpy as np
import pytest
import tensorflow as tf

from child.nas_tree_cell import space as rcs
from child.nas_tree_cell.cell import TreeCell, cell_factory

BATCH, STEPS, INPUT, UNITS = 3, 5, 4, 6


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _relu(x):
  return np.maximum(x, 0.0)


def _run(cell, x, h0, c0):
  """Runs `cell` over x from [h0, c0]; returns (outputs, h, c) as numpy."""
  rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
  out, h, c = rnn(x, initial_state=[h0, c0])
  return np.asarray(out), np.asarray(h), np.asarray(c)


def _data(seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(BATCH, STEPS, INPUT)).astype(np.float32)
  h0 = rng.normal(size=(BATCH, UNITS)).astype(np.float32) * 0.5
  c0 = rng.normal(size=(BATCH, UNITS)).astype(np.float32) * 0.5
  return x, h0, c0


def _random_leaf_weights(cell, seed=1):
  """Gives `cell` random weights (bias too); returns per-leaf (W, U, b)."""
  rng = np.random.default_rng(seed)
  base = cell.spec.base
  kernel = rng.normal(size=(INPUT, base * UNITS)).astype(np.float32) * 0.4
  recurrent = rng.normal(size=(UNITS, base * UNITS)).astype(np.float32) * 0.4
  bias = rng.normal(size=(base * UNITS,)).astype(np.float32) * 0.4
  cell.set_weights([kernel, recurrent, bias])
  cut = lambda a, i: a[..., i * UNITS:(i + 1) * UNITS]
  return [(cut(kernel, i), cut(recurrent, i), cut(bias, i))
          for i in range(base)]


def _random_spec(base, rng):
  space = rcs.tree_cell_space(base)
  tokens = [rng.integers(len(d.choices)) for d in space.decisions]
  return rcs.decode(space.from_tokens(tokens))


@pytest.mark.parametrize("base", [2, 4, 8])
def test_random_cells_run_forward_and_backward_inside_keras_rnn(base):
  rng = np.random.default_rng(100 + base)
  for _ in range(2):
    cell = TreeCell(_random_spec(base, rng), UNITS)
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    x, h0, c0 = _data(base)
    x = tf.constant(x)
    with tf.GradientTape() as tape:
      tape.watch(x)
      out, h, c = rnn(x, initial_state=[h0, c0])
      loss = tf.reduce_sum(out ** 2) + tf.reduce_sum(c ** 2)
    assert out.shape == (BATCH, STEPS, UNITS)
    assert h.shape == (BATCH, UNITS) and c.shape == (BATCH, UNITS)
    np.testing.assert_allclose(out[:, -1], h)
    grads = tape.gradient(loss, [x] + rnn.trainable_weights)
    assert len(grads) == 4 and all(g is not None for g in grads)
    assert all(np.isfinite(np.asarray(g)).all() for g in grads)


def test_all_leaves_share_one_x_matmul_and_one_h_matmul():
  cell = TreeCell(rcs.paper_nas_cell_spec(), UNITS)
  cell.build((None, INPUT))
  assert [tuple(w.shape) for w in cell.weights] == [
      (INPUT, 8 * UNITS), (UNITS, 8 * UNITS), (8 * UNITS,)]


def test_figure_5_cell_computes_the_papers_equations():
  # a0 = tanh(W0 x + U0 h), a1 = relu(W1 x * U1 h), a0_new = relu(a0 + c),
  # h = sigmoid(a0_new * a1), c_new = W1 x * U1 h (before the relu).
  spec = rcs.decode(rcs.tree_cell_space(2).parse("0 1 1 3 1 2 0 3 1 0"))
  cell = TreeCell(spec, UNITS)
  x, h, c = _data()
  cell.build((None, INPUT))
  (w0, u0, b0), (w1, u1, b1) = _random_leaf_weights(cell)
  out, got_h, got_c = _run(cell, x, h, c)
  for t in range(STEPS):
    a0 = np.tanh(x[:, t] @ w0 + h @ u0 + b0)
    pre1 = (x[:, t] @ w1) * (h @ u1 + b1)
    a0_new = _relu(a0 + c)
    h, c = _sigmoid(a0_new * _relu(pre1)), pre1
    np.testing.assert_allclose(out[:, t], h, atol=1e-5)
  np.testing.assert_allclose(got_c, c, atol=1e-5)


def test_published_nas_cell_matches_its_published_equations():
  cell = cell_factory("nas")(UNITS)
  x, h, c = _data()
  cell.build((None, INPUT))
  leaves = _random_leaf_weights(cell)
  out, got_h, got_c = _run(cell, x, h, c)
  for t in range(STEPS):
    wx = [x[:, t] @ w for w, _, _ in leaves]
    uh = [h @ u + b for _, u, b in leaves]
    l1 = [_sigmoid(wx[0] + uh[0]), _relu(wx[1] + uh[1]),
          _sigmoid(wx[2] + uh[2]), _relu(wx[3] * uh[3]),
          np.tanh(wx[4] + uh[4]), _sigmoid(wx[5] + uh[5]),
          np.tanh(wx[6] + uh[6]), _sigmoid(wx[7] + uh[7])]
    l2_0 = np.tanh(np.tanh(l1[0] * l1[1]) + c)
    l2_1 = np.tanh(l1[2] + l1[3])
    l2_2 = np.tanh(l1[4] * l1[5])
    l2_3 = _sigmoid(l1[6] + l1[7])
    c = l2_0 * l2_1
    h = np.tanh(c * np.tanh(l2_2 + l2_3))
    np.testing.assert_allclose(out[:, t], h, atol=1e-5)
  np.testing.assert_allclose(got_h, h, atol=1e-5)
  np.testing.assert_allclose(got_c, c, atol=1e-5)


def test_lstm_tree_matches_keras_lstm_cell_on_the_same_weights():
  lstm = keras.layers.LSTMCell(UNITS)
  x, h0, c0 = _data()
  lstm.build((None, INPUT))
  kernel, recurrent, bias = (np.asarray(w) for w in lstm.weights)
  rng = np.random.default_rng(5)
  bias = bias + rng.normal(size=bias.shape).astype(np.float32)
  lstm.bias.assign(bias)
  want_out, want_h, want_c = _run(lstm, x, h0, c0)

  # Keras gates are i, f, g, o; the tree's leaves f, -, i, g, o, -, -, -.
  gate = lambda a, k: a[..., k * UNITS:(k + 1) * UNITS]
  zero = lambda a: np.zeros_like(gate(a, 0))
  def leaves(a):
    return np.concatenate(
        [gate(a, 1), zero(a), gate(a, 0), gate(a, 2), gate(a, 3),
         zero(a), zero(a), zero(a)], axis=-1)

  tree = TreeCell(rcs.lstm_equivalent_spec(), UNITS)
  tree.build((None, INPUT))
  tree.set_weights([leaves(kernel), leaves(recurrent), leaves(bias)])
  got_out, got_h, got_c = _run(tree, x, h0, c0)
  assert np.abs(want_c - c0).max() > 0.1, "the comparison is not trivial"
  np.testing.assert_allclose(got_out, want_out, atol=1e-5)
  np.testing.assert_allclose(got_h, want_h, atol=1e-5)
  np.testing.assert_allclose(got_c, want_c, atol=1e-5)


def test_config_round_trip_keeps_the_spec():
  spec = rcs.paper_nas_cell_spec()
  cell = TreeCell(spec, UNITS, name="nas")
  clone = TreeCell.from_config(cell.get_config())
  assert clone.spec == spec and clone.units == UNITS
  layer = keras.layers.RNN(cell)
  again = keras.layers.RNN.from_config(layer.get_config())
  assert again.cell.spec == spec


def test_cell_factory_accepts_names_specs_and_architectures():
  arc = rcs.lstm_equivalent_spec().to_architecture()
  assert cell_factory(arc)(UNITS).spec == rcs.lstm_equivalent_spec()
  assert isinstance(cell_factory("lstm")(UNITS), keras.layers.LSTMCell)
  with pytest.raises(ValueError, match="unknown cell"):
    cell_factory("gru")
