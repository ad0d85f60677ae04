"""Parameters and FLOPs of a micro architecture's own weights in the supergraph (§2.4).

A shared-weight evaluation (`enas.image.shared_weights`) scores an
architecture with the weights its path through `enas.micro.supergraph`
uses; its cost is that path's, as a stand-alone model at the SEARCH
settings (N normal cells, F filters, every cell op at stride 1), counted
analytically from the op table (`enas.micro.ops`, ``search_cost`` of each
row), never by building a model:

* stem: 3x3 conv C -> 3F and batch norm;
* before each reduction cell: the factorized reduction of the previous
  output to the doubled width (two 1x1 convs at stride 2, batch norm);
* each cell: the calibration of its inputs to F (a factorized reduction of
  the larger one, or a 1x1 conv when the width differs), each node's two
  ops (one weight set per use), and the output 1x1 conv over the loose
  ends (only their rows of the kernel) with its batch norm;
* classifier: ``final width x classes``, no bias.

The auxiliary head runs in training only and is not counted.

Convention: ``params`` counts the weights the path uses, batch-norm scale
and shift included (the supergraph keeps no moving statistics);
``flops`` the multiply-adds of one forward pass for ONE image, of the
convolutions (depthwise and pointwise alike) and the classifier only
(batch norm, ReLU, pooling and node sums count nothing).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from enas.image import spaces as image_spaces
from enas.micro import ops as micro_ops
from enas.micro import space as space_lib


def _reduction(in_channels: int, filters: int, height: int, width: int
               ) -> tuple[int, int]:
  """A factorized reduction: (params, multiply-adds) at input size H x W."""
  pixels = math.ceil(height / 2) * math.ceil(width / 2)
  return in_channels * filters + 2 * filters, pixels * in_channels * filters


def cell_cost(cell: space_lib.MicroCell,
              input_shapes: Sequence[Sequence[int]], filters: int
              ) -> tuple[int, int]:
  """(params, multiply-adds) of one supergraph cell reading `input_shapes`.

  Args:
    cell: the decoded cell.
    input_shapes: ``(H, W, C)`` of its two inputs; the second sets the
      cell's resolution (`enas.micro.supergraph.SharedCell`).
    filters: F, the cell's width.
  """
  (h0, w0, c0), (h1, w1, c1) = input_shapes
  f = filters
  params = flops = 0
  if h0 != h1:
    params, flops = _reduction(c0, f, h0, w0)
  elif c0 != f:
    params, flops = c0 * f + 2 * f, h0 * w0 * c0 * f
  if c1 != f:
    params, flops = params + c1 * f + 2 * f, flops + h1 * w1 * c1 * f
  pixels = h1 * w1
  for node in cell.nodes:
    for op in (node.op_1, node.op_2):
      op_params, op_flops = micro_ops.get(op).search_cost(f, pixels)
      params, flops = params + op_params, flops + op_flops
  loose = len(cell.loose_ends)
  params += loose * f * f + 2 * f
  flops += pixels * loose * f * f
  return params, flops


def search_cost(arc: image_spaces.ArcLike, *, input_shape: Sequence[int],
                num_classes: int, out_filters: int,
                num_layers: int) -> dict[str, int]:
  """``{'params', 'flops'}`` of `arc`'s path at the search settings.

  Args:
    arc: a micro architecture (any form `decode_micro` reads).
    input_shape: ``(H, W, C)`` of the images.
    num_classes: classifier outputs.
    out_filters: F of the first cells (doubled at each reduction).
    num_layers: N, normal cells.
  """
  micro = space_lib.decode_micro(arc)
  h, w, c = (int(d) for d in input_shape)
  f = out_filters
  params, flops = 9 * c * 3 * f + 6 * f, h * w * 9 * c * 3 * f
  shapes = [(h, w, 3 * f), (h, w, 3 * f)]
  reductions = space_lib.micro_reduction_cells(num_layers)
  for layer in range(num_layers + 2):
    cell = micro.normal
    if layer in reductions:
      cell = micro.reduction
      f *= 2
      h, w, channels = shapes[1]
      more_params, more_flops = _reduction(channels, f, h, w)
      params, flops = params + more_params, flops + more_flops
      shapes = [shapes[1], (math.ceil(h / 2), math.ceil(w / 2), f)]
    more_params, more_flops = cell_cost(cell, shapes, f)
    params, flops = params + more_params, flops + more_flops
    shapes = [shapes[1], shapes[1][:2] + (f,)]
  params += f * num_classes
  flops += f * num_classes
  return {"params": int(params), "flops": int(flops)}


def supergraph_cost(arc: Any, model: Any) -> dict[str, int]:
  """`search_cost` at the settings of `model`, a `MicroSupergraph`."""
  return search_cost(arc, input_shape=model.image_shape,
                     num_classes=model.num_classes,
                     out_filters=model.out_filters,
                     num_layers=model.num_layers)
