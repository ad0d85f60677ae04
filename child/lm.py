"""Reading a word stream as a language model does: windows, NLL, perplexity.

One plumbing for every word-level language model of the project: the NAS
language-model child (Zoph & Le 2017, §3.4, §4.2), the ENAS recurrent
supergraph and its final model (Pham et al. 2018, §2.1, §3.1). The stream is
laid out by `child.datasets.batchify` as parallel rows and read in truncated-
BPTT windows (Zaremba et al. 2014), the recurrent state carried from one
window to the next; perplexity is ``exp(total NLL / predicted words)``.

A model takes part through one function,
``eval_window(x, y, state) -> (summed_nll, count, new_state)``: the NLL of
the words ``y`` summed over the window, how many words that is, and the
state to carry into the next window.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Optional

import numpy as np

from child.datasets import batchify

EvalWindow = Callable[[np.ndarray, np.ndarray, Any], tuple[Any, Any, Any]]


def windows(data: np.ndarray, bptt: int
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """Truncated-BPTT windows of a `batchify`d array ``(batch, steps)``.

  Yields ``(x, y)`` of shape ``(batch, length)``, ``length <= bptt`` (only
  the last window may be shorter), with ``y`` the next word of every ``x``;
  together the windows predict every column after the first exactly once.

  Raises:
    ValueError: `bptt` < 1.
  """
  if bptt < 1:
    raise ValueError(f"bptt must be >= 1, got {bptt}")
  for start in range(0, data.shape[1] - 1, bptt):
    length = min(bptt, data.shape[1] - 1 - start)
    yield (data[:, start:start + length],
           data[:, start + 1:start + 1 + length])


def stream_nll(eval_window: EvalWindow, ids: np.ndarray, batch_size: int,
               bptt: int, state) -> tuple[float, int]:
  """Total NLL of a word stream and the number of words it predicts.

  `ids` is laid out by `batchify` into `batch_size` rows (its last
  ``len(ids) % batch_size`` words are dropped) and read window by window,
  starting from `state` and carrying each window's new state into the next.

  Args:
    eval_window: ``(x, y, state) -> (summed_nll, count, new_state)``; x and
      y are int32 arrays ``(batch_size, length)``.
    ids: 1-D word ids.
    batch_size: rows.
    bptt: window length.
    state: the state the first window starts from.

  Returns:
    (sum of -log p(w) over the predicted words, number of them).

  Raises:
    ValueError: no word is predicted (the stream is too short for the batch
      size), or `batchify` rejects the stream.
  """
  data = batchify(np.asarray(ids, np.int32), batch_size)
  total, count = 0.0, 0
  for x, y in windows(data, bptt):
    nll, num, state = eval_window(x, y, state)
    total += float(nll)
    count += int(num)
  if count == 0:
    raise ValueError(f"no word to predict: {len(ids)} ids are too short for "
                     f"batch size {batch_size}")
  return total, count


def perplexity(total_nll: float, count: int,
               max_log_ppl: Optional[float] = None) -> float:
  """``exp(total_nll / count)``: the perplexity of `count` predicted words.

  Without a cap, a mean NLL too large for ``math.exp`` or NaN (a diverged
  model) gives ``math.inf``. With `max_log_ppl` the log-perplexity is capped
  there, and a non-finite mean counts as the cap, so an exploding child
  still gets a finite (worst) score.

  Raises:
    ValueError: `count` < 1.
  """
  if count < 1:
    raise ValueError(f"perplexity of {count} words")
  mean = total_nll / count
  if max_log_ppl is not None:
    return math.exp(min(mean, max_log_ppl) if math.isfinite(mean)
                    else max_log_ppl)
  if math.isnan(mean):
    return math.inf
  try:
    return math.exp(mean)
  except OverflowError:
    return math.inf
