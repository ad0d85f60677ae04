"""Parameters and FLOPs of a NAS CNN child, counted analytically (Zoph & Le §3.1, §3.3).

Follows `child.nas_cnn.builder.build_cnn` layer by layer, without building
anything:

* conv layer: kernel ``fh * fw * C_in * F`` (no bias) and batch norm's
  scale and shift (``2 F``); a max-pooling layer has no weights;
* a layer's input is the depth concatenation of its inputs, zero-padded to
  the largest of their sizes (§3.3); the classifier reads the last layer and
  the dangling ones the same way, global average pools, then a dense layer
  with bias (``C * classes + classes``).

Convention (FLOPs): multiply-adds of one forward pass for ONE image, of the
convolutions (``H_out * W_out * fh * fw * C_in * F``) and the dense layer
(``C * classes``). Batch norm (folded into the conv at inference), ReLU,
pooling, padding and concatenation count nothing. ``params`` counts
trainable weights only (batch norm's moving statistics are not), as
`builder.count_params`.
"""

from __future__ import annotations

import math
from typing import Sequence

from child.nas_cnn import builder
from child.nas_cnn import space as nas_cnn_space
from controller import search_space as ss


def layers_cost(layers: Sequence[builder.ConvLayer],
                input_shape: Sequence[int], num_classes: int
                ) -> dict[str, int]:
  """``{'params', 'flops'}`` of the child built from `layers` (module doc).

  Args:
    layers: the decoded architecture.
    input_shape: ``(H, W, C)`` of the images.
    num_classes: classifier outputs.
  """
  builder.validate_layers(layers)
  height, width, channels = (int(d) for d in input_shape)
  shapes = []  # (H, W, C) of each layer's output
  params = flops = 0

  def joined(indices):
    chosen = [shapes[j] for j in indices]
    return (max(s[0] for s in chosen), max(s[1] for s in chosen),
            sum(s[2] for s in chosen))

  for layer in layers:
    h, w, c = joined(layer.inputs) if layer.inputs else (height, width,
                                                          channels)
    h, w = math.ceil(h / layer.stride), math.ceil(w / layer.stride)
    if layer.kind == builder.CONV:
      kernel = layer.filter_height * layer.filter_width * c * layer.num_filters
      params += kernel + 2 * layer.num_filters
      flops += h * w * kernel
      c = layer.num_filters
    shapes.append((h, w, c))
  final = [len(layers) - 1] + builder.dangling_layers(layers)
  features = joined(final)[2]
  params += features * num_classes + num_classes
  flops += features * num_classes
  return {"params": int(params), "flops": int(flops)}


def cost(arc: ss.Architecture, input_shape: Sequence[int],
         num_classes: int) -> dict[str, int]:
  """``{'params', 'flops'}`` of the child `arc` of `nas_cnn_space`."""
  return layers_cost(nas_cnn_space.decode(arc), input_shape, num_classes)
