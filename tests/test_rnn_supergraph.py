"""Specification of enas/recurrent/supergraph.py: the shared-weight RNN cell DAG (§2.2).

Small sizes throughout: vocabulary 50, hidden 16, bptt 5, batch 4.
"""

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gin  # pylint: disable=g-import-not-at-top
import numpy as np
import pytest
import tensorflow as tf

from child import lm
from controller.search_space import ArchitectureError
from enas.recurrent import space as rnn_space
from enas.recurrent import supergraph as sg
from enas.recurrent.benchmark import random_arcs

VOCAB, HIDDEN, BPTT, BATCH = 50, 16, 5, 4
NO_DROPOUT = dict(embedding_keep=1.0, x_keep=1.0, h_keep=1.0, output_keep=1.0)


def _data(seed=0, batch=BATCH, steps=BPTT):
  rng = np.random.default_rng(seed)
  x = rng.integers(0, VOCAB, (batch, steps), dtype=np.int32)
  y = rng.integers(0, VOCAB, (batch, steps), dtype=np.int32)
  return x, y


def _paper():
  return rnn_space.rnn_cell_space().parse(rnn_space.PAPER_FINAL_CELL)


@pytest.fixture(scope="module")
def space():
  return rnn_space.rnn_cell_space()


@pytest.fixture(scope="module")
def model(space):
  return sg.RnnSupergraph(space, vocab_size=VOCAB, hidden_size=HIDDEN,
                          init_range=0.5, **NO_DROPOUT)


# ------------------------------------------------------- numpy reference cell


def _sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


NP_ACTS = (np.tanh, lambda z: np.maximum(z, 0.0), lambda z: z, _sigmoid)


def np_cell(x, h, w0, blocks, cell):
  """The §2.2 equations written out, with the loose ends listed by hand.

  `w0` is node 0's ``[2H, 2H]`` block, ``blocks[i - 1]`` node i's ``[H, 2H]``.
  """
  def highway(z, carry, act):
    c = _sigmoid(z[:, HIDDEN:])
    return c * NP_ACTS[act](z[:, :HIDDEN]) + (1.0 - c) * carry

  nodes = [highway(np.concatenate([x, h], 1) @ w0, h, cell.activations[0])]
  for i in range(1, cell.num_nodes):
    j = cell.prev[i]
    nodes.append(highway(nodes[j] @ blocks[i - 1], nodes[j],
                         cell.activations[i]))
  unused = [i for i in range(cell.num_nodes) if i not in cell.prev[1:]]
  return np.mean([nodes[i] for i in unused], axis=0)


def _blocks(model, cell):
  """Node 0's block and nodes 1..N-1's blocks of `cell`, read by hand from
  the variables' layout (block (i, j, a) at row (i (i - 1) / 2 + j) A + a)."""
  acts = model.num_activations
  w0 = model.node0_weights.numpy()
  if model.weights_per_activation:
    w0 = w0[cell.activations[0]]
  pairs = model.pair_weights.numpy()
  rows = [(i * (i - 1) // 2 + cell.prev[i]) * acts
          + (cell.activations[i] if model.weights_per_activation else 0)
          for i in range(1, cell.num_nodes)]
  return w0, [pairs[r] for r in rows]


def np_lm_nll(model, ids_x, ids_y, cell):
  """Per-token NLL of the tied language model, unrolled by hand from zeros."""
  emb = model.embedding.numpy()
  w0, blocks = _blocks(model, cell)
  h = np.zeros((ids_x.shape[0], HIDDEN), np.float32)
  out = np.zeros(ids_x.shape)
  for t in range(ids_x.shape[1]):
    h = np_cell(emb[ids_x[:, t]], h, w0, blocks, cell)
    logits = h @ emb.T
    logits -= logits.max(1, keepdims=True)
    log_z = np.log(np.exp(logits).sum(1))
    out[:, t] = log_z - logits[np.arange(len(h)), ids_y[:, t]]
  return out


# ----------------------------------------------------------------- the cell


def test_loose_end_average_matches_the_equations(model):
  cell = rnn_space.decode_rnn(_paper())
  assert cell.loose_ends == (3, 4, 7, 9, 10, 11)
  rng = np.random.default_rng(1)
  x = rng.normal(size=(BATCH, HIDDEN)).astype(np.float32)
  h = rng.normal(size=(BATCH, HIDDEN)).astype(np.float32)
  node0, wiring = model.wiring(tf.constant(_paper().tokens))
  got = sg.cell_step(x, h, node0, wiring).numpy()
  want = np_cell(x, h, *_blocks(model, cell), cell)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fixed_cell_switch_and_onehot_compute_the_same_function(model, space):
  rng = np.random.default_rng(2)
  x = rng.normal(size=(BATCH, HIDDEN)).astype(np.float32)
  h = rng.normal(size=(BATCH, HIDDEN)).astype(np.float32)
  for tokens in random_arcs(space, 3, seed=3):
    node0, shared = model.wiring(tf.constant(tokens))
    cell = rnn_space.decode_rnn(tokens)
    fixed_node0, blocks = model.cell_weights(cell)
    fixed = sg.fixed_wiring(cell, blocks)
    outs = [sg.cell_step(x, h, node0, shared, select=s).numpy()
            for s in sg.ACTIVATION_SELECTS]
    outs.append(sg.cell_step(x, h, fixed_node0, fixed).numpy())
    for out in outs[1:]:
      np.testing.assert_allclose(out, outs[0], rtol=1e-5, atol=1e-6)


def test_each_activation_gives_a_different_output_on_the_same_weights():
  two_nodes = rnn_space.rnn_cell_space(2)          # node 1: the only loose end
  model = sg.RnnSupergraph(two_nodes, vocab_size=VOCAB, hidden_size=HIDDEN,
                           init_range=1.0, weights_per_activation=False)
  rng = np.random.default_rng(4)
  x = rng.normal(size=(BATCH, HIDDEN)).astype(np.float32)
  h = rng.normal(size=(BATCH, HIDDEN)).astype(np.float32)
  outs = []
  for act in range(4):
    node0, wiring = model.wiring(tf.constant([0, 0, act]))
    outs.append(sg.cell_step(x, h, node0, wiring).numpy())
  for a in range(4):
    for b in range(a + 1, 4):
      assert np.abs(outs[a] - outs[b]).max() > 0.05, (a, b)


# ------------------------------------------------------- training and eval


def test_every_random_arc_gives_a_finite_loss(space):
  model = sg.RnnSupergraph(space, vocab_size=VOCAB, hidden_size=HIDDEN)
  x, y = _data()
  state = model.initial_state(BATCH)
  for tokens in random_arcs(space, 8, seed=5):
    loss, state = model.train_step(x, y, tokens, state, 0.25)
    total, count, _ = model.eval_loss(x, y, tokens, state)
    assert np.isfinite(float(loss)) and np.isfinite(float(total))
    assert int(count) == BATCH * BPTT
    assert np.all(np.isfinite(state.numpy()))


def test_train_step_traces_once_over_five_arcs_and_eval_once_more(space):
  model = sg.RnnSupergraph(space, vocab_size=VOCAB, hidden_size=HIDDEN)
  x, y = _data()
  state = model.initial_state(BATCH)
  arcs = random_arcs(space, 5, seed=6)
  for tokens in arcs:
    _, state = model.train_step(x, y, tokens, state, 0.1)
  assert model.trace_count == 1
  for tokens in arcs[:3]:
    model.eval_loss(x[:2, :3], y[:2, :3], tokens, state[:2])
  assert model.trace_count == 2


def _moved_blocks(model, tokens, seed=0):
  """(node-0 blocks, pair blocks) one training step on `tokens` changes."""
  before = [model.node0_weights.numpy(), model.pair_weights.numpy()]
  x, y = _data(seed)
  model.train_step(x, y, tokens, model.initial_state(BATCH), 1.0)
  moved = []
  for value, var in zip(before, [model.node0_weights, model.pair_weights]):
    if value.ndim == 2:                     # node 0 with one block
      value = value[None]
    change = np.abs(var.numpy().reshape(value.shape) - value)
    moved.append({int(k) for k in np.nonzero(
        change.reshape(len(value), -1).max(1))[0]})
  return moved


def test_only_the_chosen_blocks_are_updated(space):
  model = sg.RnnSupergraph(space, vocab_size=VOCAB, hidden_size=HIDDEN,
                           l2_reg=1e-3)
  cell = rnn_space.decode_rnn(_paper())
  chosen = {(i * (i - 1) // 2 + cell.prev[i]) * 4 + cell.activations[i]
            for i in range(1, 12)}
  assert model.pair_weights.shape[0] == 66 * 4
  assert _moved_blocks(model, _paper()) == [{cell.activations[0]}, chosen]


def test_the_recurrent_supergraph_has_one_weight_set_per_activation(space):
  # Both official codes (melodyguan/enas 4bcfd73, enas_lm): a block per
  # (node, previous node, activation). Two cells that differ only in node
  # 5's activation train the same blocks everywhere but at node 5.
  model = sg.RnnSupergraph(space, vocab_size=VOCAB, hidden_size=HIDDEN)
  tanh5 = list(_paper().tokens)
  relu5 = list(tanh5)
  tanh5[2 * 5], relu5[2 * 5] = 0, 1
  node0_a, rows_a = _moved_blocks(model, tanh5)
  node0_b, rows_b = _moved_blocks(model, relu5)
  row_5 = (5 * 4 // 2 + tanh5[2 * 5 - 1]) * 4   # pair (5, prev_5), tanh
  assert rows_a ^ rows_b == {row_5 + 0, row_5 + 1}
  assert node0_a == node0_b == {0}
  # ... and two cells differing only in node 0's activation, node 0's block.
  sigmoid0 = [3] + tanh5[1:]
  assert _moved_blocks(model, sigmoid0)[0] == {3}


def test_one_weight_set_per_pair_when_shared_by_the_activations(space):
  model = sg.RnnSupergraph(space, vocab_size=VOCAB, hidden_size=HIDDEN,
                           weights_per_activation=False)
  tanh5 = list(_paper().tokens)
  relu5 = list(tanh5)
  tanh5[2 * 5], relu5[2 * 5] = 0, 1
  cell = rnn_space.decode_rnn(tanh5)
  pairs = {i * (i - 1) // 2 + cell.prev[i] for i in range(1, 12)}
  assert model.pair_weights.shape[0] == 66
  assert _moved_blocks(model, tanh5) == _moved_blocks(model, relu5) == [
      {0}, pairs]


def test_the_paper_search_settings_keep_one_weight_set_per_activation(space):
  gin.clear_config()
  try:
    gin.parse_config_file("gin/enas/ptb_search.gin")
    gin.parse_config("RnnSupergraph.hidden_size = 4")
    assert sg.RnnSupergraph(space, vocab_size=VOCAB).pair_weights.shape[0] == 66 * 4
  finally:
    gin.clear_config()


@pytest.mark.parametrize("per_activation", [True, False])
def test_shared_parameter_count_is_vh_plus_a_h2_times_4_plus_n_n_minus_1(
    space, per_activation):
  model = sg.RnnSupergraph(space, vocab_size=VOCAB, hidden_size=HIDDEN,
                           weights_per_activation=per_activation)
  count = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
  blocks = 4 if per_activation else 1
  assert count == VOCAB * HIDDEN + blocks * HIDDEN**2 * (4 + 12 * 11)
  assert count == sg.num_shared_params(VOCAB, HIDDEN, 12, per_activation)
  # The official search sizes (V 10,000, H 720, N 12).
  assert sg.num_shared_params(10000, 720, 12, per_activation) == (
      289_209_600 if per_activation else 77_702_400)


def test_gradient_is_clipped_to_the_global_norm_bound(space):
  model = sg.RnnSupergraph(space, vocab_size=VOCAB, hidden_size=HIDDEN,
                           grad_bound=1e-3)
  variables = [model.embedding, model.node0_weights, model.pair_weights]
  before = [v.numpy() for v in variables]
  x, y = _data()
  model.train_step(x, y, _paper(), model.initial_state(BATCH), 1.0)
  step = math.sqrt(sum(np.sum((v.numpy() - b) ** 2)
                       for v, b in zip(variables, before)))
  assert 0.0 < step <= 1e-3 * (1 + 1e-4)


def test_without_dropout_train_loss_is_the_eval_mean_nll(model):
  x, y = _data()
  state = model.initial_state(BATCH)
  total, count, _ = model.eval_loss(x, y, _paper(), state)
  loss, _ = model.train_step(x, y, _paper(), state, 0.0)
  np.testing.assert_allclose(float(loss), float(total) / int(count), rtol=1e-5)


def test_dropout_changes_the_training_loss(space):
  model = sg.RnnSupergraph(space, vocab_size=VOCAB, hidden_size=HIDDEN,
                           init_range=0.5)
  x, y = _data()
  state = model.initial_state(BATCH)
  total, count, _ = model.eval_loss(x, y, _paper(), state)
  loss, _ = model.train_step(x, y, _paper(), state, 0.0)
  assert abs(float(loss) - float(total) / int(count)) > 1e-4


def test_a_childs_stream_perplexity_is_exp_of_the_mean_nll_by_hand(model):
  ids = np.random.default_rng(7).integers(0, VOCAB, 2 * 12 + 1)
  arc = _paper()
  ppl = lm.perplexity(*lm.stream_nll(sg.child_eval_window(model, arc), ids,
                                     batch_size=2, bptt=5,
                                     state=model.initial_state(2)))
  data = ids[:24].reshape(2, 12)          # batchify drops the last token
  nll = np_lm_nll(model, data[:, :-1], data[:, 1:], rnn_space.decode_rnn(arc))
  assert np.isfinite(ppl)
  np.testing.assert_allclose(ppl, math.exp(nll.mean()), rtol=1e-4)


def test_arcs_outside_the_space_are_rejected_before_running(model):
  x, y = _data()
  bad = list(_paper().tokens)
  bad[-1] = 4                              # no activation 4
  with pytest.raises(ArchitectureError, match="position 22"):
    model.eval_loss(x, y, bad, model.initial_state(BATCH))


def test_a_step_whose_loss_overflows_is_skipped_and_restarts_the_state(space):
  # One exploding sampled child must not poison the shared weights.
  model = sg.RnnSupergraph(space, vocab_size=VOCAB, hidden_size=HIDDEN)
  weights = [model.embedding, model.node0_weights, model.pair_weights]
  before = [v.numpy() for v in weights]
  x = np.zeros((2, 5), np.int32)
  huge_state = np.full((2, HIDDEN), 3e38, np.float32)   # overflows in the cell
  loss, state = model.train_step(x, x, _paper(), huge_state, 0.25)
  assert not np.isfinite(float(loss))
  assert int(model.skipped_steps.numpy()) == 1
  assert not np.any(state.numpy())
  for value, var in zip(before, weights):
    np.testing.assert_array_equal(value, var.numpy())
