"""The micro op table (Pham et al. 2018, §2.4): one row per op.

A row names an op, gives its official id (the token the controller samples;
the op order of melodyguan/enas ``micro_child.py``) and builds the op twice.

In the supergraph (`enas.micro.supergraph`), one cell position serves every
node and input slot:

* ``shared_weights(filters, num_weight_sets)``: the cell's one weight table
  of the op (a row per (node, slot, input id)), or None for an op without
  weights (the inputs are calibrated to F, so pools and identity need none);
* ``shared_branch(x, weights, row)``: the op on input `x` as a zero-argument
  branch of the op switch; the weight row is gathered before (outside the
  switch), as the compiled step was tuned.

and ``search_cost(filters, pixels)``: ``(params, multiply-adds)`` of one
use of the op in the supergraph (one weight set) at width F on ``pixels =
H * W`` positions, for one image (`enas.micro.cost`: weights and batch-norm
scale and shift; convolutions only count multiply-adds).

In a final cell (`enas.micro.final_model`), one op per node and slot:

* ``fixed_layer(filters, stride, name=...)``: the layer holding its weights
  (stride 2 on a reduction cell's inputs), or None when it has none;
* ``fixed_branch(x, layer, stride, training)``: the op on `x`;
* ``drop_path``: whether scheduled drop path applies to its output (every
  op but identity).

``OPS[i]`` is the op of id i; the space's choices (`enas.micro.space.
MICRO_OPS`) are the rows' names. A new op of a known kind is one row; a new
kind is one class with the four builders.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, ClassVar

import keras
import tensorflow as tf

from enas.image import ops as image_ops


@dataclasses.dataclass(frozen=True)
class SepConv:
  """Two stacked ReLU -> separable kxk conv -> BN."""

  name: str
  id: int
  kernel_size: int
  drop_path: ClassVar[bool] = True

  def shared_weights(self, filters: int,
                     num_weight_sets: int) -> image_ops.SepConvTable:
    return image_ops.SepConvTable(filters, self.kernel_size,
                                  num_weight_sets=num_weight_sets,
                                  name=self.name)

  def shared_branch(self, x: tf.Tensor, weights: image_ops.SepConvTable,
                    row: Any) -> Callable[[], tf.Tensor]:
    return functools.partial(weights, x, params=weights.params(row))

  def search_cost(self, filters: int, pixels: int) -> tuple[int, int]:
    f, k, stacks = filters, self.kernel_size, 2  # as `SepConvTable`
    weights = k * k * f + f * f  # depthwise, pointwise
    return stacks * (weights + 2 * f), stacks * pixels * weights

  def fixed_layer(self, filters: int, stride: int, *,
                  name: str) -> keras.layers.Layer:
    k = self.kernel_size
    return image_ops.SepConvStack(filters, filters, k, strides=stride,
                                  name=f"{name}_sep{k}")

  def fixed_branch(self, x, layer, stride: int, training) -> tf.Tensor:
    del stride  # the layer has it
    return layer(x, training=training)


@dataclasses.dataclass(frozen=True)
class Pool:
  """A 3x3 pool (`kind`: avg or max); no weights."""

  name: str
  id: int
  kind: str
  drop_path: ClassVar[bool] = True

  def shared_weights(self, filters: int, num_weight_sets: int) -> None:
    del filters, num_weight_sets

  def shared_branch(self, x: tf.Tensor, weights: None,
                    row: Any) -> Callable[[], tf.Tensor]:
    del weights, row
    return lambda: image_ops.pool2d(x, self.kind)

  def search_cost(self, filters: int, pixels: int) -> tuple[int, int]:
    del filters, pixels
    return 0, 0

  def fixed_layer(self, filters: int, stride: int, *, name: str) -> None:
    del filters, stride, name

  def fixed_branch(self, x, layer, stride: int, training) -> tf.Tensor:
    del layer, training
    return image_ops.pool2d(x, self.kind, strides=stride)


@dataclasses.dataclass(frozen=True)
class Identity:
  """The input itself; at stride 2 its factorized reduction."""

  name: str
  id: int
  drop_path: ClassVar[bool] = False

  def shared_weights(self, filters: int, num_weight_sets: int) -> None:
    del filters, num_weight_sets

  def shared_branch(self, x: tf.Tensor, weights: None,
                    row: Any) -> Callable[[], tf.Tensor]:
    del weights, row
    return lambda: x

  def search_cost(self, filters: int, pixels: int) -> tuple[int, int]:
    del filters, pixels
    return 0, 0

  def fixed_layer(self, filters: int, stride: int, *,
                  name: str) -> keras.layers.Layer | None:
    if stride == 1:
      return None
    return image_ops.FactorizedReduction(filters, filters,
                                         name=f"{name}_reduce")

  def fixed_branch(self, x, layer, stride: int, training) -> tf.Tensor:
    del stride
    return x if layer is None else layer(x, training=training)


OPS = (
    SepConv("sep_conv3x3", 0, 3),
    SepConv("sep_conv5x5", 1, 5),
    Pool("avg_pool3x3", 2, "avg"),
    Pool("max_pool3x3", 3, "max"),
    Identity("identity", 4),
)
"""The micro ops by official id."""

NAMES = tuple(op.name for op in OPS)
"""Op names by id: the choices of every node's op tokens."""

if [op.id for op in OPS] != list(range(len(OPS))):
  raise AssertionError("micro op rows must be in id order")


def get(op: int) -> SepConv | Pool | Identity:
  """The row of op id `op` (a Python int).

  Raises:
    ValueError: no op has that id.
  """
  if not 0 <= op < len(OPS):
    raise ValueError(f"unknown micro op {op}")
  return OPS[op]
