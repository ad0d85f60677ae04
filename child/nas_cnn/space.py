"""The Zoph & Le CNN search space (§3.1, §3.3 and the §4.1 variants).

Per layer, in the order the controller predicts them (paper Figure 2, with one
stride for both axes): an optional layer type {conv, max_pool} (the pooling
variant), filter height {1,3,5,7}, filter width {1,3,5,7}, an optional stride
{1,2,3} (the strides variant), number of filters {24,36,48,64}, then the
layer's anchor point: one skip bit per earlier layer (§3.3).

Text format: those tokens layer after layer, choice indices for the
categorical decisions and 0/1 for the skip bits. For example, with no
stride or pooling decisions, ``1 1 2`` is layer 0 = 3x3 conv with 48 filters,
and layer 1 ``0 3 0 1`` = 1x7 conv with 24 filters fed by layer 0.
"""

from __future__ import annotations

from typing import Sequence

import gin

from child.nas_cnn.builder import ConvLayer
from controller import search_space as ss


@gin.configurable
def nas_cnn_space(num_layers: int = 6,
                  filter_sizes: Sequence[int] = (1, 3, 5, 7),
                  num_filters: Sequence[int] = (24, 36, 48, 64),
                  strides: Sequence[int] | None = None,
                  pooling: bool = False) -> ss.SearchSpace:
  """Declares the space.

  Args:
    num_layers: layers per child; with a depth schedule
      (``run_nas_search.grow_from_layers``, Zoph & Le §4.1: from 6, +2 every
      1,600 children) the deepest children's.
    filter_sizes: choices for filter height and width.
    num_filters: choices for the number of filters.
    strides: stride choices, e.g. (1, 2, 3) for the paper's second variant;
      None = every layer has stride 1 (the first variant).
    pooling: whether each layer also chooses between conv and max pooling.

  Returns:
    The search space ``"nas_cnn"``.
  """
  decisions: list[ss.Decision] = []
  for layer in range(num_layers):
    prefix = f"layer_{layer}"
    if pooling:
      decisions.append(ss.Categorical(f"{prefix}/type", ("conv", "max_pool"),
                                      kind="type"))
    decisions.append(ss.Categorical(f"{prefix}/filter_height",
                                    tuple(filter_sizes), kind="filter_height"))
    decisions.append(ss.Categorical(f"{prefix}/filter_width",
                                    tuple(filter_sizes), kind="filter_width"))
    if strides:
      decisions.append(ss.Categorical(f"{prefix}/stride", tuple(strides),
                                      kind="stride"))
    decisions.append(ss.Categorical(f"{prefix}/num_filters",
                                    tuple(num_filters), kind="num_filters"))
    decisions.append(ss.Skip(f"{prefix}/inputs", num_anchors=layer))
  return ss.SearchSpace("nas_cnn", tuple(decisions),
                        metadata=(("num_layers", num_layers),))


def decode(arc: ss.Architecture) -> list[ConvLayer]:
  """Turns an architecture of `nas_cnn_space` into the builder's layers."""
  values = arc.values()
  layers = []
  for layer in range(arc.space.meta("num_layers")):
    prefix = f"layer_{layer}"
    skip_bits = values[f"{prefix}/inputs"]
    layers.append(ConvLayer(
        filter_height=values[f"{prefix}/filter_height"],
        filter_width=values[f"{prefix}/filter_width"],
        num_filters=values[f"{prefix}/num_filters"],
        stride=values.get(f"{prefix}/stride", 1),
        kind=values.get(f"{prefix}/type", "conv"),
        inputs=tuple(j for j, bit in enumerate(skip_bits) if bit)))
  return layers
