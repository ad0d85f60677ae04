"""Specification of enas/rnn_final.py: final training of a fixed ENAS recurrent cell (§2.2, §3.1).

Tiny sizes throughout: vocabulary 30, hidden 8, a fake corpus of a few
thousand words; the paper-size model is only counted.
"""

import dataclasses
import json
import math
import os
import subprocess
import sys
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gin  # pylint: disable=g-import-not-at-top
import numpy as np
import pytest
import tensorflow as tf

from child import lm
from controller.search_space import ArchitectureError
from enas.recurrent import final_task
from enas.recurrent import final_training as rf
from enas.recurrent import space as rnn_space
from enas.recurrent import supergraph as sg
from enas.recurrent.benchmark import random_arcs

VOCAB, HIDDEN, BATCH, BPTT = 30, 8, 4, 6
NO_DROPOUT = sg.Dropout(1.0, 1.0, 1.0, 1.0)


def _data(seed=0, batch=BATCH, steps=BPTT):
  rng = np.random.default_rng(seed)
  return (rng.integers(0, VOCAB, (batch, steps), dtype=np.int32),
          rng.integers(0, VOCAB, (batch, steps), dtype=np.int32))


def _corpus(seed=0):
  rng = np.random.default_rng(seed)
  # A corpus with structure to learn: mostly w_{t+1} = w_t + 1 (mod V).
  def stream(n):
    ids = np.cumsum(rng.integers(1, 3, n)) % VOCAB
    return ids.astype(np.int32)
  return types.SimpleNamespace(train=stream(3000), valid=stream(400), test=stream(400),
                               vocab=tuple(f"w{i}" for i in range(VOCAB)))


TINY = rf.RnnFinalConfig(
    hidden_size=HIDDEN, vocab_size=VOCAB, batch_size=BATCH, bptt=BPTT, epochs=1, init_range=0.5,
    max_steps_per_epoch=60, embedding_keep=0.9, x_keep=0.8, h_keep=0.9, output_keep=0.8,
    learning_rate=1.0, grad_bound=5.0, valid_batch_size=2, test_batch_size=1, eval_bptt=50,
    progress=False)


def _paper_cell():
  return rnn_space.decode_rnn(rnn_space.PAPER_FINAL_CELL)


def _fixed_from_supergraph(supergraph, cell, **kwargs):
  """A fixed model holding the supergraph's embedding and the cell's chosen blocks
  (node 0's for its activation, then one per (node, previous node, activation))."""
  model = rf.FinalRnnLM(cell, vocab_size=VOCAB, hidden_size=HIDDEN, **kwargs)
  model.embedding.assign(supergraph.embedding)
  node0, blocks = supergraph.cell_weights(cell)
  for weight, block in zip(model.weights, [node0, *blocks]):
    weight.assign(block)
  return model


# ------------------------------------------------- same function as the supergraph


def test_the_fixed_cell_computes_the_supergraphs_function_on_the_same_weights():
  space = rnn_space.rnn_cell_space()
  supergraph = sg.RnnSupergraph(space, vocab_size=VOCAB, hidden_size=HIDDEN, init_range=0.5,
                                embedding_keep=1.0, x_keep=1.0, h_keep=1.0, output_keep=1.0)
  x, y = _data()
  state = tf.random.stateless_uniform([BATCH, HIDDEN], (1, 2))
  for tokens in [space.parse(rnn_space.PAPER_FINAL_CELL).tokens, *random_arcs(space, 2, seed=5)]:
    cell = rnn_space.decode_rnn(tokens)
    model = _fixed_from_supergraph(supergraph, cell)
    want_nll, count, want_state = supergraph.eval_loss(x, y, tokens, state)
    got_nll, got_count, got_state = model.eval_loss(x, y, state)
    assert int(count) == int(got_count) == x.size
    np.testing.assert_allclose(float(got_nll), float(want_nll), rtol=1e-5)
    np.testing.assert_allclose(got_state.numpy(), want_state.numpy(), rtol=1e-5, atol=1e-6)


def test_one_sgd_step_moves_the_chosen_weights_as_the_supergraphs_step_does():
  space = rnn_space.rnn_cell_space()
  supergraph = sg.RnnSupergraph(space, vocab_size=VOCAB, hidden_size=HIDDEN, init_range=0.5,
                                embedding_keep=1.0, x_keep=1.0, h_keep=1.0, output_keep=1.0,
                                grad_bound=0.0, l2_reg=1e-3)
  cell = _paper_cell()
  model = _fixed_from_supergraph(supergraph, cell, l2_reg=1e-3)
  x, y = _data(1)
  state = tf.zeros([BATCH, HIDDEN])
  supergraph.train_step(x, y, space.parse(rnn_space.PAPER_FINAL_CELL), state, 0.5)
  model.train_step(x, y, state, 0.5)
  np.testing.assert_allclose(model.embedding.numpy(), supergraph.embedding.numpy(), atol=1e-5)
  node0, blocks = supergraph.cell_weights(cell)
  for weight, block in zip(model.weights, [node0, *blocks]):
    np.testing.assert_allclose(weight.numpy(), block.numpy(), atol=1e-5)


# ---------------------------------------------------------------- regularisation


def test_dropout_is_off_at_evaluation():
  heavy = sg.Dropout(0.5, 0.5, 0.5, 0.5)
  dropped = rf.FinalRnnLM(_paper_cell(), vocab_size=VOCAB, hidden_size=HIDDEN, dropout=heavy, seed=3)
  plain = rf.FinalRnnLM(_paper_cell(), vocab_size=VOCAB, hidden_size=HIDDEN, seed=3)
  x, y = _data(2)
  state = dropped.initial_state(BATCH)
  first, _, _ = dropped.eval_loss(x, y, state)
  second, _, _ = dropped.eval_loss(x, y, state)
  without, _, _ = plain.eval_loss(x, y, state)
  assert float(first) == float(second)
  np.testing.assert_allclose(float(first), float(without), rtol=1e-6)
  masks = sg.sample_masks(tf.random.Generator.from_seed(0), x, VOCAB, HIDDEN, heavy)
  trained, _, _ = dropped.nll(x, y, state, masks)
  assert abs(float(tf.reduce_sum(trained)) - float(first)) > 1e-3   # training does drop


def test_the_softmax_weights_are_the_embedding_matrix():
  model = rf.FinalRnnLM(_paper_cell(), vocab_size=VOCAB, hidden_size=HIDDEN, seed=4)
  assert [v.shape[0] for v in model.variables_list].count(VOCAB) == 1   # one [V, H] matrix
  x = np.full((1, 3), 1, np.int32)
  y = np.array([[2, 3, 4]], np.int32)
  state = model.initial_state(1)
  before = model.nll(x, y, state)[0].numpy()
  model.embedding.scatter_add(tf.IndexedSlices(tf.ones([1, HIDDEN]), [3]))   # word 3 is only a target
  after = model.nll(x, y, state)[0].numpy()
  assert not np.allclose(before, after)


def test_the_slowness_penalty_is_zero_for_a_constant_state_and_positive_otherwise():
  constant = tf.tile(tf.random.stateless_normal([2, 1, 5], (0, 1)), [1, 7, 1])
  assert float(rf.slowness_penalty(constant)) == 0.0
  moving = tf.random.stateless_normal([2, 7, 5], (0, 2))
  got = float(rf.slowness_penalty(moving))
  want = np.sum(np.diff(moving.numpy(), axis=1) ** 2) / 2
  assert got > 0
  np.testing.assert_allclose(got, want, rtol=1e-5)
  np.testing.assert_allclose(float(rf.activation_penalty(moving)), np.sum(moving.numpy() ** 2) / 2, rtol=1e-5)


def test_the_penalties_enter_the_training_objective_with_their_weights():
  model = rf.FinalRnnLM(_paper_cell(), vocab_size=VOCAB, hidden_size=HIDDEN, slowness_reg=0.5,
                        activation_reg=0.25, l2_reg=0.125)
  x, y = _data(3)
  nll, outputs, _ = model.nll(x, y, model.initial_state(BATCH))
  got = float(model.objective(nll, outputs, float(BATCH)))
  want = (float(tf.reduce_sum(nll)) / BATCH + 0.5 * float(rf.slowness_penalty(outputs))
          + 0.25 * float(rf.activation_penalty(outputs))
          + 0.125 * sum(float(tf.reduce_sum(v ** 2)) for v in model.variables_list))
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_the_slowness_penalty_reads_the_output_after_its_dropout_mask():
  # melodyguan/enas 4bcfd73 ptb_enas_child.py: out_h *= o_mask is what all_h
  # holds, and the slowness sum is taken over all_h.
  x, y = _data(4)
  mask = np.ones([BATCH, 1, HIDDEN], np.float32)
  mask[:, :, 0] = 0.0                      # unit 0 dropped in every row
  mask[:, :, 1] = 2.0                      # unit 1 kept at keep 0.5
  penalties = []
  for after in (True, False):
    model = rf.FinalRnnLM(_paper_cell(), vocab_size=VOCAB, hidden_size=HIDDEN, slowness_reg=1.0,
                          penalties_after_output_dropout=after, seed=5)
    state = model.initial_state(BATCH)
    _, plain, _ = model.nll(x, y, state)  # no masks: the cell's h_t
    nll, read, _ = model.nll(x, y, state, {"output": tf.constant(mask)})
    penalties.append(float(rf.slowness_penalty(read)))
    np.testing.assert_allclose(float(model.objective(nll, read, float(BATCH))),
                               float(tf.reduce_sum(nll)) / BATCH + penalties[-1], rtol=1e-6)
  after, before = penalties
  h = plain.numpy()
  np.testing.assert_allclose(after, float(rf.slowness_penalty(h[..., 1:] * mask[..., 1:])), rtol=1e-5)
  np.testing.assert_allclose(before, float(rf.slowness_penalty(h)), rtol=1e-5)
  assert float(rf.slowness_penalty(h[..., :1])) > 0       # unit 0 moves, yet adds nothing after the mask


def test_the_paper_settings_put_the_penalties_after_the_output_mask():
  gin.clear_config()
  try:
    gin.parse_config_file("gin/enas/ptb_final.gin")
    assert rf.RnnFinalConfig().penalties_after_output_dropout
    gin.parse_config("RnnFinalConfig.penalties_after_output_dropout = False")
    assert not rf.build_model(rf.PAPER_CELL, rf.RnnFinalConfig()).penalties_after_output_dropout
  finally:
    gin.clear_config()


# ---------------------------------------------------------------- optimiser


def test_the_learning_rate_follows_the_official_final_schedule():
  config = rf.RnnFinalConfig()
  assert [config.learning_rate_at(e) for e in (0, 14)] == [20.0, 20.0]
  assert config.learning_rate_at(15) == pytest.approx(20.0 * 0.9991)
  assert config.learning_rate_at(100000) == 0.001


def test_averaging_starts_when_validation_is_worse_than_the_best_before_the_last_epochs():
  assert not rf.should_start_averaging([10, 9, 8], 9.5, nonmono=3)         # too few epochs
  assert not rf.should_start_averaging([10, 9, 8, 7], 9.5, nonmono=3)      # better than 10
  assert rf.should_start_averaging([10, 9, 8, 7], 10.5, nonmono=3)         # worse than 10
  assert rf.should_start_averaging([9, 10], 9.5, nonmono=1)                # worse than 9


def test_after_the_switch_the_weights_are_the_mean_of_the_iterates_since():
  v = tf.Variable([0.0, 10.0])
  averager = rf.WeightAverager([v])
  averager.update()                       # not started: nothing kept
  averager.start()
  for value in ([1.0, 1.0], [3.0, 5.0], [5.0, 0.0]):
    v.assign(value)
    averager.update()
  with averager.averaged():
    np.testing.assert_allclose(v.numpy(), [3.0, 2.0])
  np.testing.assert_allclose(v.numpy(), [5.0, 0.0])       # restored for training
  averager.assign_average()
  np.testing.assert_allclose(v.numpy(), [3.0, 2.0])


def test_asgd_training_records_the_switch_and_evaluates_the_averaged_weights(monkeypatch):
  monkeypatch.setattr(rf, "should_start_averaging", lambda *args: True)
  config = dataclasses.replace(TINY, epochs=2, max_steps_per_epoch=5, asgd=True)
  result = rf.train_final_rnn("lstm", config, seed=0, corpus=_corpus())
  assert result.status == "ok", result.error
  assert result.asgd_start_epoch == 1
  assert result.valid_ppl == result.valid_ppls[-1]


# ---------------------------------------------------------------- arcs, training, records


def test_named_cells_and_official_strings_parse():
  assert rf.parse_arc("lstm") == "lstm"
  assert rf.parse_arc("paper_enas_cell").to_string() == rnn_space.PAPER_FINAL_CELL
  assert rf.parse_arc("0 0 1").space.meta("num_nodes") == 2
  with pytest.raises(ArchitectureError):
    rf.parse_arc("0 0")
  with pytest.raises(ArchitectureError):
    rf.parse_arc("0 5 1")          # node 1 cannot read node 5


@pytest.mark.parametrize("arc", ["lstm", "paper_enas_cell"])
def test_the_lstm_and_the_paper_cell_train_one_tiny_epoch(arc, tmp_path):
  result = rf.train_final_rnn(arc, TINY, seed=0, output_dir=str(tmp_path), corpus=_corpus())
  assert result.status == "ok", result.error
  assert math.isfinite(result.valid_ppl) and math.isfinite(result.test_ppl)
  assert result.valid_ppl < 0.75 * VOCAB          # learned something about the stream
  assert result.params == rf.count_params(arc, TINY)
  assert len(result.valid_ppls) == len(result.train_losses) == 1
  # The weights, the SavedModel and its vocabulary (rf.export), the last
  # epoch's checkpoint, no temporary file left.
  assert sorted(os.listdir(tmp_path)) == sorted([
      "final_checkpoint-0.npz", "final_checkpoint.json", "saved_model",
      "vocab.txt", rf.WEIGHTS_FILE])
  restored = rf.build_model(arc, TINY, seed=99)
  with np.load(tmp_path / rf.WEIGHTS_FILE) as saved:
    restored.set_weights(dict(saved))
  ppl = lm.perplexity(*lm.stream_nll(restored.eval_loss, _corpus().test, TINY.test_batch_size, TINY.eval_bptt,
                                     restored.initial_state(TINY.test_batch_size)))
  np.testing.assert_allclose(ppl, result.test_ppl, rtol=1e-4)


def test_a_nan_loss_gives_a_failed_record_with_a_one_line_error():
  config = dataclasses.replace(TINY, learning_rate=1e30, grad_bound=0.0, init_range=1.0)
  result = rf.train_final_rnn("lstm", config, seed=0, corpus=_corpus())
  assert result.status == "failed"
  assert result.valid_ppl is None and result.test_ppl is None
  assert "non-finite" in result.error and "\n" not in result.error
  assert result.params == rf.count_params("lstm", config)   # measured before it diverged


def test_count_params_of_the_paper_cell_is_the_hand_formula():
  v, h = VOCAB, HIDDEN
  assert rf.count_params("paper_enas_cell", TINY) == v * h + (2 * h) * (2 * h) + 11 * h * (2 * h)
  assert rf.count_params("lstm", TINY) == v * h + (2 * h) * (4 * h) + 4 * h
  # The official final sizes (V 10000, H 748): 22.0M, not the paper's 24M (module docstring).
  assert rf.count_params("paper_enas_cell", rf.RnnFinalConfig()) == 22_027_104


def test_the_task_parses_names_draws_from_its_space_and_counts():
  task = final_task.EnasRnnFinalTask()
  assert task.space.num_tokens == 23
  assert task.parse("lstm") == "lstm"
  assert str(task.parse("paper_enas_cell")) == rnn_space.PAPER_FINAL_CELL
  random = random_arcs(task.space, 1, seed=0)[0]
  assert task.parse(task.space.from_tokens(random).to_string()).tokens == random
  assert task.count_params("lstm") == rf.count_params("lstm", task.config)


def test_the_task_returns_a_json_record_of_the_outcome(tmp_path):
  task = final_task.EnasRnnFinalTask()
  task.config, task._corpus = TINY, _corpus()
  record = task.evaluate("lstm", seed=0, final_dir=str(tmp_path))
  assert record["status"] == "ok", record["error"]
  assert record["valid_ppls"] == [record["valid_ppl"]] and record["reward"] is None
  assert json.loads(json.dumps(record, allow_nan=False)) == record


def test_count_params_binary_prints_the_official_final_count_last():
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run([sys.executable, "-m", "experiments.count_params", "--gin_file=gin/enas/ptb_final.gin",
                           "--arc=paper_enas_cell"], cwd=repo, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert result.returncode == 0, result.stderr
  assert json.loads(result.stdout.strip().splitlines()[-1]) == {"params": 22_027_104}
