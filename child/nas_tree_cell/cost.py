"""Parameters and FLOPs of a tree-cell language model, counted analytically (Zoph & Le §3.4).

Follows `child.nas_tree_cell.language_model.LanguageModel`: an embedding
(``V E``), `num_layers` recurrent layers, then the softmax: untied, a dense
``H V + V``; tied, the embedding read back plus an output bias ``V`` and,
when ``E != H``, a projection ``H E`` (no bias).

A recurrent layer of input size I and H units:

* a `TreeCell` of base b: one ``I x b H`` and one ``H x b H`` matrix and a
  ``b H`` bias (every leaf's W_i, U_i, b_i);
* the LSTM (``'lstm'``): Keras' ``LSTMCell``, ``4 H (I + H) + 4 H``.

Convention (FLOPs): multiply-adds of one forward step PER TOKEN of the
matrix products (the cells' input and recurrent projections, the
projection and the softmax). Embedding lookups, the tree's elementwise
combinations and activations, biases and dropout count nothing (they are
O(H) against O(H^2) and O(H V)).
"""

from __future__ import annotations

from typing import Any

from child.nas_tree_cell import space as tree_space
from controller.search_space import Architecture


def _cell_weights(cell: Any, input_size: int, units: int
                  ) -> tuple[int, int] | None:
  """(params, multiply-adds per token) of one recurrent layer, or None when
  `cell` is a callable this module cannot see into."""
  if isinstance(cell, str) and cell == "lstm":
    return 4 * units * (input_size + units) + 4 * units, 4 * units * (
        input_size + units)
  if isinstance(cell, str) and cell == "nas":
    cell = tree_space.paper_nas_cell_spec()
  if isinstance(cell, Architecture):
    cell = tree_space.decode(cell)
  if not isinstance(cell, tree_space.TreeCellSpec):
    return None
  width = cell.base * units
  macs = (input_size + units) * width
  return macs + width, macs


def cost(cell: Any, *, vocab_size: int, embedding_size: int,
         hidden_size: int, num_layers: int, tie_weights: bool
         ) -> dict[str, int] | None:
  """``{'params', 'flops'}`` of the language model on `cell` (module doc).

  Args:
    cell: an `Architecture` of a `tree_cell_space`, a `TreeCellSpec`,
      ``'lstm'`` or ``'nas'`` (the published cell).
    vocab_size: V.
    embedding_size: E.
    hidden_size: H.
    num_layers: stacked recurrent layers.
    tie_weights: the softmax reuses the embedding.

  Returns:
    The counts; None for a cell given as an opaque callable.
  """
  params = vocab_size * embedding_size
  flops = 0
  for layer in range(num_layers):
    layer_cost = _cell_weights(
        cell, embedding_size if layer == 0 else hidden_size, hidden_size)
    if layer_cost is None:
      return None
    params += layer_cost[0]
    flops += layer_cost[1]
  if tie_weights:
    if embedding_size != hidden_size:
      params += hidden_size * embedding_size
      flops += hidden_size * embedding_size
    params += vocab_size
    flops += embedding_size * vocab_size
  else:
    params += hidden_size * vocab_size + vocab_size
    flops += hidden_size * vocab_size
  return {"params": int(params), "flops": int(flops)}
