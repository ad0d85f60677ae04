"""Builds a Zoph & Le NAS CNN child from its decoded layers (§3.1, §3.3).

The lead's `child/nas_cnn_space.py` decodes an `Architecture` of the NAS CNN
search space into a list of `ConvLayer`; `build_cnn` turns that list into a
Keras functional model. Construction follows the three rules of §3.3 that make
every sampled architecture compile:

1. a layer with no input takes the image;
2. inputs of different spatial sizes are zero-padded to the largest size among
   them and concatenated in depth;
3. the final layer's output is concatenated with every output that no later
   layer uses (the dangling outputs), then fed to the classifier.

Choices the paper leaves open, fixed here:

* Order inside a conv layer: conv -> batch norm -> ReLU (the paper only says
  "ReLU, batch norm"). The conv has no bias (batch norm supplies the shift).
  Batch norm uses momentum 0.9 and epsilon 1e-5 (the official ENAS settings),
  so short child trainings still get usable moving statistics.
* Zero padding of smaller maps goes at the bottom and right, so pixel (0, 0)
  of every map stays aligned with pixel (0, 0) of the image.
* Pooling layers (the max-pooling variant of §3.1) have no weights: window
  fh x fw, stride `stride`, padding same; output channels = input channels.
* Classifier: global average pooling, optional dropout, dense softmax.
* Weight decay: L2 penalty ``weight_decay * sum(w ** 2)`` on every conv and
  dense kernel (not on batch norm parameters or biases).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import keras
import numpy as np

CONV = "conv"
MAX_POOL = "max_pool"
LAYER_KINDS = (CONV, MAX_POOL)

_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


@dataclasses.dataclass(frozen=True)
class ConvLayer:
  """One layer of a NAS CNN child (Zoph & Le §3.1, §3.3).

  Attributes:
    filter_height: kernel (or pooling window) height.
    filter_width: kernel (or pooling window) width.
    num_filters: output channels of a conv layer; ignored by ``max_pool``.
    stride: stride, used for both axes.
    kind: ``'conv'`` or ``'max_pool'``.
    inputs: indices of earlier layers whose outputs feed this layer; empty
      means the layer takes the image.
  """

  filter_height: int
  filter_width: int
  num_filters: int
  stride: int = 1
  kind: str = CONV
  inputs: tuple[int, ...] = ()


def validate_layers(layers: Sequence[ConvLayer]) -> None:
  """Checks that `layers` describe a buildable network.

  Raises:
    ValueError: naming the first bad layer (empty list, unknown kind,
      non-positive size, or an input that is not an earlier layer).
  """
  if not layers:
    raise ValueError("a NAS CNN needs at least one layer")
  for i, layer in enumerate(layers):
    if layer.kind not in LAYER_KINDS:
      raise ValueError(f"layer {i}: kind {layer.kind!r} not in {LAYER_KINDS}")
    sizes = (layer.filter_height, layer.filter_width, layer.stride)
    if layer.kind == CONV:
      sizes += (layer.num_filters,)
    if min(sizes) < 1:
      raise ValueError(f"layer {i}: sizes must be positive, got {layer}")
    for j in layer.inputs:
      if not 0 <= j < i:
        raise ValueError(f"layer {i}: input {j} is not an earlier layer")


def dangling_layers(layers: Sequence[ConvLayer]) -> list[int]:
  """Indices of layers, other than the last, that no later layer uses (§3.3)."""
  used = {j for layer in layers for j in layer.inputs}
  return [i for i in range(len(layers) - 1) if i not in used]


def _pad_and_concat(tensors, name):
  """Zero-pads maps at the bottom/right to the largest size; depth concat."""
  if len(tensors) == 1:
    return tensors[0]
  height = max(t.shape[1] for t in tensors)
  width = max(t.shape[2] for t in tensors)
  padded = []
  for k, t in enumerate(tensors):
    pad_h, pad_w = height - t.shape[1], width - t.shape[2]
    if pad_h or pad_w:
      t = keras.layers.ZeroPadding2D(
          ((0, pad_h), (0, pad_w)), name=f"{name}_pad{k}")(t)
    padded.append(t)
  return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")(padded)


def build_cnn(layers: Sequence[ConvLayer],
              input_shape: tuple[int, int, int],
              num_classes: int,
              *,
              weight_decay: float = 1e-4,
              dropout: float = 0.0,
              name: str = "nas_cnn") -> keras.Model:
  """Builds the child network of §3.3 as a Keras functional model.

  Layer ``i`` is named ``layer_{i}_conv`` / ``layer_{i}_bn`` /
  ``layer_{i}_relu`` (conv) or ``layer_{i}_pool`` (max pool); the
  concatenation of its inputs is ``layer_{i}_in_concat``.

  Args:
    layers: the decoded architecture, in order.
    input_shape: (height, width, channels) of the images.
    num_classes: size of the softmax.
    weight_decay: L2 coefficient on conv and dense kernels (0 disables).
    dropout: dropout rate before the classifier (0 disables).
    name: the model's name.

  Returns:
    An uncompiled Keras model mapping images to class probabilities.

  Raises:
    ValueError: only for malformed `layers` (see `validate_layers`); every
      well-formed list builds, whatever its strides and skip pattern.
  """
  validate_layers(layers)
  regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
  image = keras.Input(shape=tuple(input_shape), name="image")
  outputs = []
  for i, layer in enumerate(layers):
    if layer.inputs:
      x = _pad_and_concat([outputs[j] for j in layer.inputs],
                          name=f"layer_{i}_in")
    else:
      x = image
    if layer.kind == CONV:
      x = keras.layers.Conv2D(
          layer.num_filters, (layer.filter_height, layer.filter_width),
          strides=layer.stride, padding="same", use_bias=False,
          kernel_initializer="he_normal", kernel_regularizer=regularizer,
          name=f"layer_{i}_conv")(x)
      x = keras.layers.BatchNormalization(
          momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, name=f"layer_{i}_bn")(x)
      x = keras.layers.ReLU(name=f"layer_{i}_relu")(x)
    else:
      x = keras.layers.MaxPooling2D(
          (layer.filter_height, layer.filter_width), strides=layer.stride,
          padding="same", name=f"layer_{i}_pool")(x)
    outputs.append(x)
  final = [outputs[-1]] + [outputs[i] for i in dangling_layers(layers)]
  x = _pad_and_concat(final, name="final")
  x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
  if dropout:
    x = keras.layers.Dropout(dropout, name="dropout")(x)
  probs = keras.layers.Dense(
      num_classes, activation="softmax", kernel_regularizer=regularizer,
      name="classifier")(x)
  return keras.Model(image, probs, name=name)


def count_params(model: keras.Model) -> int:
  """Number of trainable parameters (batch norm's moving stats excluded)."""
  return int(sum(np.prod(v.shape) for v in model.trainable_variables))
