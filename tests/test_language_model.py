"""Zoph & Le 2017 §3.4: the language-model child, its perplexity and reward."""

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # pylint: disable=g-import-not-at-top
import numpy as np
import pytest
import tensorflow as tf

from child.nas_tree_cell import language_model as lm
from child.nas_tree_cell import space as rcs
from child.datasets import TextCorpus, batchify
from child.nas_tree_cell.cell import TreeCell

VOCAB = 10


def _repeating_corpus(length=3010):
  """A fixed random order of the VOCAB words, repeated."""
  order = np.random.default_rng(0).permutation(VOCAB).astype(np.int32)
  ids = np.tile(order, length // VOCAB)
  return TextCorpus(ids, ids[:400], ids[:400],
                    tuple(str(i) for i in range(VOCAB)))


def _tiny_model(cell="lstm", tie_weights=False, embedding_size=8,
                num_layers=2, **kwargs):
  factory = {"lstm": keras.layers.LSTMCell,
             "nas": lambda u: TreeCell(rcs.paper_nas_cell_spec(), u)}[cell]
  return lm.build_language_model(factory, VOCAB, embedding_size, 8,
                                 num_layers, tie_weights=tie_weights, **kwargs)


class _TableModel:
  """A stateless fake: the next-word logits are table[current word]."""

  def __init__(self, table):
    self.table = tf.constant(table, tf.float32)

  def initial_state(self, batch_size):
    del batch_size
    return []

  def __call__(self, ids, states, training=False):
    return tf.gather(self.table, ids), states


def test_reward_is_80_over_perplexity_squared():
  assert lm.reward_from_perplexity(80.0) == pytest.approx(80 / 6400)
  assert lm.reward_from_perplexity(40.0, c=80.0, power=2) == pytest.approx(0.05)
  assert lm.reward_from_perplexity(math.nan) == 0.0
  assert lm.reward_from_perplexity(math.inf) == 0.0


def test_a_uniform_model_has_perplexity_equal_to_the_vocabulary_size():
  model = _TableModel(np.zeros((7, 7)))
  ids = np.random.default_rng(0).integers(0, 7, size=103)
  assert lm.evaluate_perplexity(model, ids, batch_size=4, bptt=5) == (
      pytest.approx(7.0, rel=1e-6))


def test_perplexity_on_a_hand_computed_three_word_example():
  # p(1|0) = 1/2, p(2|1) = 1/4, p(0|2) = 1/2: ppl = (1/2 * 1/4 * 1/2)^(-1/3).
  probs = np.array([[0.25, 0.5, 0.25], [0.5, 0.25, 0.25], [0.5, 0.25, 0.25]])
  model = _TableModel(np.log(probs))
  ids = np.array([0, 1, 2, 0])
  # bptt=2 reads windows of 2 and 1 predictions: the short one counts too.
  assert lm.evaluate_perplexity(model, ids, batch_size=1, bptt=2) == (
      pytest.approx(16 ** (1 / 3), rel=1e-6))


def test_weight_tying_replaces_the_output_matrix_by_the_embedding():
  untied = _tiny_model(tie_weights=False).count_params()
  tied = _tiny_model(tie_weights=True).count_params()
  assert untied - tied == VOCAB * 8  # the hidden x vocab output kernel
  projected = _tiny_model(tie_weights=True, embedding_size=5).count_params()
  untied_5 = _tiny_model(tie_weights=False, embedding_size=5).count_params()
  assert untied_5 - projected == VOCAB * 8 - 8 * 5  # + hidden->embedding map


def test_variational_dropout_uses_one_mask_for_every_time_step():
  dropout = lm.VariationalDropout(0.5, seed=1)
  out = np.asarray(dropout(tf.ones((6, 9, 20)), training=True))
  dropped = out == 0
  assert 0.2 < dropped.mean() < 0.8
  assert (dropped == dropped[:, :1, :]).all()
  assert not (dropped == dropped[:1]).all(), "rows get their own masks"
  np.testing.assert_allclose(out[~dropped], 2.0)
  assert (np.asarray(dropout(tf.ones((2, 3, 4)), training=False)) == 1).all()


def test_a_tiny_model_learns_a_repeating_sequence():
  keras.utils.set_random_seed(0)
  model = _tiny_model(cell="nas", num_layers=1)
  step = lm.make_train_step(model, keras.optimizers.SGD(2.0), clip_norm=5.0)
  data = batchify(_repeating_corpus().train, 4)
  losses = lm.run_epoch(step, data, 5, model.initial_state(4),
                        max_steps=60).losses
  assert len(losses) == 60
  assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
  assert np.mean(losses[:5]) == pytest.approx(math.log(VOCAB), rel=0.1)


def test_the_state_is_carried_across_windows():
  model = _tiny_model()
  step = lm.make_train_step(model, keras.optimizers.SGD(0.1), clip_norm=5.0)
  seen = []

  def spy(x, y, states):
    nll, new_states = step(x, y, states)
    seen.append((np.asarray(states), np.asarray(new_states)))
    return nll, new_states

  data = batchify(_repeating_corpus().train, 4)
  final = lm.run_epoch(spy, data, 5, model.initial_state(4), max_steps=3)
  assert len(seen) == 3
  assert (seen[0][0] == 0).all()
  assert np.abs(seen[0][1]).max() > 0
  np.testing.assert_array_equal(seen[1][0], seen[0][1])
  np.testing.assert_array_equal(seen[2][0], seen[1][1])
  np.testing.assert_array_equal(np.asarray(final.states), seen[2][1])


def _config(**overrides):
  settings = dict(embedding_size=8, hidden_size=8, num_layers=1,
                  batch_size=4, bptt=5, epochs=2, max_steps_per_epoch=40,
                  learning_rate=1.0, input_dropout=0.0, layer_dropout=0.0,
                  output_dropout=0.0)
  return lm.LanguageModelConfig(**{**settings, **overrides})


def test_training_starts_every_epoch_from_a_zero_state(monkeypatch):
  starts = []
  real_run_epoch = lm.run_epoch

  def recording_run_epoch(step, data, bptt, states, max_steps=None):
    starts.append(np.asarray(states))
    return real_run_epoch(step, data, bptt, states, max_steps)

  monkeypatch.setattr(lm, "run_epoch", recording_run_epoch)
  lm.train_language_model("lstm", _repeating_corpus(),
                          _config(max_steps_per_epoch=3), seed=0)
  assert len(starts) == 2
  assert all((s == 0).all() for s in starts)


def test_training_scores_the_child_by_validation_perplexity():
  result = lm.train_language_model(
      "lstm", _repeating_corpus(), _config(evaluate_test=True), seed=0)
  assert result.status == "ok" and result.error == ""
  assert result.valid_ppl < VOCAB / 2
  assert result.test_ppl == pytest.approx(result.valid_ppl)  # same words
  assert result.reward == pytest.approx(80 / result.valid_ppl ** 2)
  assert result.params == _tiny_param_count()


def _tiny_param_count():
  embedding, lstm, softmax = VOCAB * 8, 4 * (8 * 8 + 8 * 8 + 8), 8 * VOCAB
  return embedding + lstm + softmax + VOCAB


def test_a_diverging_child_fails_with_zero_reward_instead_of_raising():
  nan_cell = lambda units: TreeCell(
      rcs.paper_nas_cell_spec(), units,
      bias_initializer=keras.initializers.Constant(math.nan))
  result = lm.train_language_model(nan_cell, _repeating_corpus(), _config(),
                                   seed=0)
  assert result.status == "failed"
  assert result.reward == 0.0
  assert "nan" in result.error
  assert result.valid_ppl is None
  assert result.params > 0  # measured before it diverged
