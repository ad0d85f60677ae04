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

  Args:
    arc: a cell (any form `rnn_space.decode_rnn` reads).
    vocab_size: V.
    hidden_size: H.
  """
  num_nodes = rnn_space.decode_rnn(arc).num_nodes
  h = hidden_size
  cell = 4 * h * h + 2 * (num_nodes - 1) * h * h
  return {"params": int(vocab_size * h + cell),
          "flops": int(cell + h * vocab_size)}
