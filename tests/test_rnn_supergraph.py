"""Specification of enas/rnn_supergraph.py: the shared-weight RNN cell DAG (§2.2).

Small sizes throughout: vocabulary 50, hidden 16, bptt 5, batch 4.
"""

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=g-import-not-at-top
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


def np_cell(x, h, w0, pairs, cell):
  """The §2.2 equations written out, with the loose ends listed by hand."""
  def highway(z, carry, act):
    c = _sigmoid(z[:, HIDDEN:])
    return c * NP_ACTS[act](z[:, :HIDDEN]) + (1.0 - c) * carry

  nodes = [highway(np.concatenate([x, h], 1) @ w0, h, cell.activations[0])]
  for i in range(1, cell.num_nodes):
    j = cell.prev[i]
    nodes.append(highway(nodes[j] @ pairs[i * (i - 1) // 2 + j], nodes[j],
                         cell.activations[i]))
  unused = [i for i in range(cell.num_nodes) if i not in cell.prev[1:]]
  return np.mean([nodes[i] for i in unused], axis=0)


def np_lm_nll(model, ids_x, ids_y, cell):
  """Per-token NLL of the tied language model, unrolled by hand from zeros."""
  emb = model.embedding.numpy()
  w0, pairs = model.node0_weights.numpy(), model.pair_weights.numpy()
  h = np.zeros((ids_x.shape[0], HIDDEN), np.float32)
  out = np.zeros(ids_x.shape)
  for t in range(ids_x.shape[1]):
    h = np_cell(emb[ids_x[:, t]], h, w0, pairs, cell)
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
  wiring = sg.arc_wiring(tf.constant(_paper().tokens), model.pair_weights, 12)
  got = sg.cell_step(x, h, model.node0_weights, wiring).numpy()
  want = np_cell(x, h, model.node0_weights.numpy(), model.pair_weights.numpy(),
                 cell)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fixed_cell_switch_and_onehot_compute_the_same_function(model, space):
  rng = np.random.default_rng(2)
  x = rng.normal(size=(BATCH, HIDDEN)).astype(np.float32)
  h = rng.normal(size=(BATCH, HIDDEN)).astype(np.float32)
  for tokens in random_arcs(space, 3, seed=3):
    shared = sg.arc_wiring(tf.constant(tokens), model.pair_weights, 12)
    cell = rnn_space.decode_rnn(tokens)
    fixed = sg.fixed_wiring(cell, [model.pair_weights[sg.pair_index(i, j)]
                                   for i, j in enumerate(cell.prev) if i])
    outs = [sg.cell_step(x, h, model.node0_weights, shared, select=s).numpy()
            for s in sg.ACTIVATION_SELECTS]
    outs.append(sg.cell_step(x, h, model.node0_weights, fixed).numpy())
    for out in outs[1:]:
      np.testing.assert_allclose(out, outs[0], rtol=1e-5, atol=1e-6)


def test_each_activation_gives_a_different_output_on_the_same_weights():
  two_nodes = rnn_space.rnn_cell_space(2)          # node 1: the only loose end
  model = sg.RnnSupergraph(two_nodes, vocab_size=VOCAB, hidden_size=HIDDEN,
                           init_range=1.0)
  rng = np.random.default_rng(4)
  x = rng.normal(size=(BATCH, HIDDEN)).astype(np.float32)
  h = rng.normal(size=(BATCH, HIDDEN)).astype(np.float32)
  outs = []
  for act in range(4):
    wiring = sg.arc_wiring(tf.constant([0, 0, act]), model.pair_weights, 2)
    outs.append(sg.cell_step(x, h, model.node0_weights, wiring).numpy())
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


def test_only_the_chosen_pair_weights_are_updated(space):
  model = sg.RnnSupergraph(space, vocab_size=VOCAB, hidden_size=HIDDEN,
                           l2_reg=1e-3)
  cell = rnn_space.decode_rnn(_paper())
  chosen = {sg.pair_index(i, j) for i, j in enumerate(cell.prev) if i}
  before = model.pair_weights.numpy()
  x, y = _data()
  model.train_step(x, y, _paper(), model.initial_state(BATCH), 1.0)
  moved = np.abs(model.pair_weights.numpy() - before).reshape(66, -1).max(1)
  assert {int(k) for k in np.nonzero(moved)[0]} == chosen


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
  huge_state = np.full((2, HIDDEN), 1e38, np.float32)   # overflows in the cell
  loss, state = model.train_step(x, x, _paper(), huge_state, 0.25)
  assert not np.isfinite(float(loss))
  assert int(model.skipped_steps.numpy()) == 1
  assert not np.any(state.numpy())
  for value, var in zip(before, weights):
    np.testing.assert_array_equal(value, var.numpy())
