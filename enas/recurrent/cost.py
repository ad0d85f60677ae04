"""Parameters and FLOPs of an ENAS recurrent cell's own weights (Pham et al. 2018, §2.2).

A shared-weight evaluation (`enas.recurrent.shared_weights`) scores a cell
with the weights its path through `enas.recurrent.supergraph` uses, as a
stand-alone language model at the SEARCH settings: the embedding ``V x H``
(also the softmax: tied), node 0's ``[2H, 2H]`` block (x_t | h_{t-1} to the
candidate | gate) and one ``[H, 2H]`` block per later node. Every node
reaches h_t (a node is a loose end or is read by a later node), so every
cell of N nodes has the same cost: ``V H + 4 H^2 + 2 (N - 1) H^2``
parameters.

Convention (FLOPs): multiply-adds of one forward step PER TOKEN of the
matrix products: ``4 H^2`` (node 0), ``2 H^2`` per later node and ``H V``
for the tied softmax. The embedding lookup, the highway gates'
elementwise work, activations and the loose-end average count nothing.
"""

from __future__ import annotations

from typing import Any

from enas.recurrent import space as rnn_space


def search_cost(arc: Any, *, vocab_size: int, hidden_size: int
                ) -> dict[str, int]:
  """``{'params', 'flops'}`` of the cell `arc` at vocabulary V, H units.

  The final model (`enas.recurrent.final_training.FinalRnnLM`) has the same
  weights, so this is its cost too at its own sizes; its LSTM baseline
  (``'lstm'``: a ``[2H, 4H]`` kernel and a ``4H`` bias) is counted alike.

  Args:
    arc: a cell (an `rnn_space.RnnCell`, any form `rnn_space.decode_rnn`
      reads) or ``'lstm'``.
    vocab_size: V.
    hidden_size: H.
  """
  h = hidden_size
  if isinstance(arc, str) and arc == "lstm":
    macs = 2 * h * 4 * h
    return {"params": int(vocab_size * h + macs + 4 * h),
            "flops": int(macs + h * vocab_size)}
  if not isinstance(arc, rnn_space.RnnCell):
    arc = rnn_space.decode_rnn(arc)
  cell = 4 * h * h + 2 * (arc.num_nodes - 1) * h * h
  return {"params": int(vocab_size * h + cell),
          "flops": int(cell + h * vocab_size)}
