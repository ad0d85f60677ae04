"""Parameters and FLOPs of a macro architecture's own weights in the supergraph (§2.3).

A shared-weight evaluation (`enas.image.shared_weights`) scores an
architecture with the weights its path through `enas.macro.supergraph`
uses; its cost is that path's, as a stand-alone model at the SEARCH
settings (width F everywhere, skips summed), counted analytically from the
op table (`enas.macro.ops`, ``search_cost`` of each row), never by building
a model:

* stem: 3x3 conv C -> F and batch norm;
* layer i: its op's branch; for i > 0 the batch norm after the skip sum;
* at each reduction (after the layers of ``pool_layers``): the factorized
  reduction (two 1x1 convs F -> F / 2 at stride 2, batch norm) of every node
  some later layer still reads (nodes read by none are not part of the
  path);
* classifier: ``F x classes``, no bias.

Convention: ``params`` counts the weights the path uses, batch-norm scale
and shift included (the supergraph keeps no moving statistics);
``flops`` the multiply-adds of one forward pass for ONE image, of the
convolutions and the classifier only (batch norm, ReLU, pooling and the
skip sums count nothing). They equal the counts of the architecture's
gradient-reached weights (`SharedWeightModel.fixed_train_step`'s
``num_child_params``) and of its forward graph's products
(tests/test_objective.py).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from enas.image import spaces as image_spaces
from enas.macro import ops as macro_ops
from enas.macro import space as space_lib


def search_cost(arc: image_spaces.ArcLike, *, input_shape: Sequence[int],
                num_classes: int, out_filters: int) -> dict[str, int]:
  """``{'params', 'flops'}`` of `arc`'s path at the search settings.

  Args:
    arc: a macro architecture (any form `decode_macro` reads).
    input_shape: ``(H, W, C)`` of the images.
    num_classes: classifier outputs.
    out_filters: F.
  """
  macro = space_lib.decode_macro(arc)
  h, w, c = (int(d) for d in input_shape)
  f = out_filters
  num_layers = macro.num_layers
  # Node j (0: stem, k: layer k - 1) is read by layer j (its input), by the
  # layers whose skips name it, and the last node by the classifier.
  readers: list[list[int]] = [[j] for j in range(num_layers + 1)]
  for layer in macro.layers:
    for j in layer.skips:
      readers[j].append(layer.index)
  params, flops = 9 * c * f + 2 * f, h * w * 9 * c * f
  for layer in macro.layers:
    op_params, op_flops = macro_ops.get(layer.op).search_cost(f, h * w)
    params += op_params + (2 * f if layer.index else 0)
    flops += op_flops
    if layer.index in macro.pool_layers:
      h, w = math.ceil(h / 2), math.ceil(w / 2)
      reduced = sum(1 for j in range(layer.index + 2)
                    if max(readers[j]) > layer.index)
      params += reduced * (f * f + 2 * f)
      flops += reduced * h * w * f * f
  params += f * num_classes
  flops += f * num_classes
  return {"params": int(params), "flops": int(flops)}


def supergraph_cost(arc: Any, model: Any) -> dict[str, int]:
  """`search_cost` at the settings of `model`, a `MacroSupergraph`."""
  return search_cost(arc, input_shape=model.image_shape,
                     num_classes=model.num_classes,
                     out_filters=model.out_filters)
