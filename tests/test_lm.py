"""Specification of the language-model plumbing (truncated BPTT, perplexity).

Zaremba et al. 2014, as used by Zoph & Le 2017 §4.2 and Pham et al. 2018
§3.1: a word stream is read as parallel rows in windows, the state carried
across windows; perplexity is exp of the mean NLL of the predicted words.
"""

import math

import numpy as np
import pytest

from child import lm
from child.datasets import batchify


def test_the_windows_predict_every_word_after_the_first_exactly_once():
  data = batchify(np.arange(46), 3)  # 3 rows of 15
  windows = list(lm.windows(data, bptt=4))
  assert [x.shape for x, _ in windows] == [(3, 4)] * 3 + [(3, 2)]
  np.testing.assert_array_equal(np.concatenate([y for _, y in windows], 1),
                                data[:, 1:])
  for x, y in windows:
    np.testing.assert_array_equal(y, x + 1)


def test_a_row_of_one_word_has_no_window():
  assert list(lm.windows(np.zeros((2, 1), np.int32), bptt=3)) == []


def test_stream_nll_sums_every_window_carrying_the_state_as_int32_ids():
  calls = []

  def eval_window(x, y, state):
    calls.append((x.shape, x.dtype, state))
    return float(y.sum()), y.size, state + 1

  ids = np.arange(21)  # 2 rows of 10, the last word dropped
  total, count = lm.stream_nll(eval_window, ids, batch_size=2, bptt=4,
                               state=100)
  data = batchify(ids, 2)
  assert count == 2 * 9
  assert total == data[:, 1:].sum()
  int32 = np.dtype(np.int32)
  assert calls == [((2, 4), int32, 100), ((2, 4), int32, 101),
                   ((2, 1), int32, 102)]


def test_stream_nll_of_a_stream_too_short_to_predict_anything_is_an_error():
  with pytest.raises(ValueError, match="no word to predict"):
    lm.stream_nll(lambda x, y, s: (0.0, y.size, s), np.arange(3),
                  batch_size=3, bptt=2, state=None)


def test_perplexity_is_exp_of_the_mean_nll():
  assert lm.perplexity(3 * math.log(7.0), 3) == pytest.approx(7.0)
  assert lm.perplexity(0.0, 5) == 1.0


def test_the_uncapped_perplexity_of_an_overflowing_or_nan_nll_is_inf():
  assert lm.perplexity(1e6, 1) == math.inf
  assert lm.perplexity(math.nan, 1) == math.inf


def test_the_capped_perplexity_stops_at_exp_of_the_cap():
  assert lm.perplexity(100.0, 10, max_log_ppl=7.0) == pytest.approx(
      math.exp(7.0))
  assert lm.perplexity(20.0, 10, max_log_ppl=7.0) == pytest.approx(
      math.exp(2.0))


def test_the_capped_perplexity_of_a_non_finite_nll_is_exp_of_the_cap():
  for total in (math.nan, math.inf):
    assert lm.perplexity(total, 4, max_log_ppl=7.0) == pytest.approx(
        math.exp(7.0))


def test_the_perplexity_of_no_word_is_an_error():
  with pytest.raises(ValueError):
    lm.perplexity(0.0, 0)
