"""The macro op table (Pham et al. 2018, §2.3): one row per op.

A row names an op, gives its official id (the token the controller samples;
the branch order of melodyguan/enas ``general_child.py``) and builds the op
twice, as

* ``shared(in_channels, filters, name=...)``: the supergraph's branch,
  batch statistics only (`enas.macro.supergraph`): 1x1 conv-BN-ReLU, then
  kxk (separable) conv-BN-ReLU or a 3x3 stride-1 pool, as the official
  shared model;
* ``search_cost(filters, pixels)``: ``(params, multiply-adds)`` of the
  shared branch at width F on ``pixels = H * W`` positions, for one image
  (`enas.macro.cost`: weights and batch-norm scale and shift; convolutions
  only count multiply-adds);
* ``fixed(in_channels, filters, name=...)``: the final model's layer, with
  moving statistics (`enas.macro.final_model`): ReLU-1x1 conv-BN, then
  ReLU-kxk (separable) conv-BN or a 3x3 stride-1 pool, as the official fixed
  child (whose separable ops were ordinary convs and whose pools were left
  undefined: here both are what their names say).

``OPS[i]`` is the op of id i; the space's choices (`enas.macro.space.
MACRO_OPS`) are the rows' names. A new op of a known kind is one row; a new
kind is one class with the two builders.
"""

from __future__ import annotations

import dataclasses

import keras

from enas.image import ops as image_ops


@keras.saving.register_keras_serializable(package="rlnas")
class FixedOp(keras.layers.Layer):
  """A macro op of the final model: ReLU-1x1-BN, then a conv or a pool.

  Attributes:
    op: the op's id.
  """

  def __init__(self, op: int, in_channels: int, filters: int, *,
               kernel_size: int | None = None, separable: bool = False,
               pool: str | None = None, **kwargs):
    """Args: the id, channels, then a conv's kernel size or the pool kind."""
    super().__init__(**kwargs)
    self.op = op
    self.pool = pool
    self._config = dict(op=op, in_channels=in_channels, filters=filters,
                        kernel_size=kernel_size, separable=separable,
                        pool=pool)
    self.inp = image_ops.ConvBN(in_channels, filters, 1, relu_before=True,
                                name="inp_conv")
    self.conv = None
    if kernel_size is not None:
      self.conv = image_ops.ConvBN(filters, filters, kernel_size,
                                   separable=separable, relu_before=True,
                                   name=f"out_conv{kernel_size}")
    self.built = True

  def get_config(self):
    return {**super().get_config(), **self._config}

  def call(self, x, training=False):
    x = self.inp(x, training=training)
    if self.conv is not None:
      return self.conv(x, training=training)
    return image_ops.pool2d(x, self.pool)


@dataclasses.dataclass(frozen=True)
class Conv:
  """A kxk convolution op, ordinary or separable."""

  name: str
  id: int
  kernel_size: int
  separable: bool = False

  def shared(self, in_channels: int, filters: int, *,
             name: str) -> keras.layers.Layer:
    return image_ops.ConvBranch(in_channels, filters, self.kernel_size,
                                separable=self.separable, moving_stats=False,
                                name=name)

  def fixed(self, in_channels: int, filters: int, *,
            name: str) -> keras.layers.Layer:
    return FixedOp(self.id, in_channels, filters,
                   kernel_size=self.kernel_size, separable=self.separable,
                   name=name)

  def search_cost(self, filters: int, pixels: int) -> tuple[int, int]:
    f, k = filters, self.kernel_size
    conv = k * k * f + f * f if self.separable else k * k * f * f
    weights = f * f + conv  # the 1x1 conv, then the kxk one
    return weights + 4 * f, pixels * weights


@dataclasses.dataclass(frozen=True)
class Pool:
  """A 3x3 stride-1 pooling op after the 1x1 conv (`kind`: avg or max)."""

  name: str
  id: int
  kind: str

  def shared(self, in_channels: int, filters: int, *,
             name: str) -> keras.layers.Layer:
    return image_ops.PoolBranch(in_channels, filters, self.kind,
                                moving_stats=False, name=name)

  def fixed(self, in_channels: int, filters: int, *,
            name: str) -> keras.layers.Layer:
    return FixedOp(self.id, in_channels, filters, pool=self.kind, name=name)

  def search_cost(self, filters: int, pixels: int) -> tuple[int, int]:
    f = filters  # the 1x1 conv; the pool has no weights or multiply-adds
    return f * f + 2 * f, pixels * f * f


OPS = (
    Conv("conv3x3", 0, 3),
    Conv("sep_conv3x3", 1, 3, separable=True),
    Conv("conv5x5", 2, 5),
    Conv("sep_conv5x5", 3, 5, separable=True),
    Pool("avg_pool3x3", 4, "avg"),
    Pool("max_pool3x3", 5, "max"),
)
"""The macro ops by official id."""

NAMES = tuple(op.name for op in OPS)
"""Op names by id: the choices of every layer's op token."""

if [op.id for op in OPS] != list(range(len(OPS))):
  raise AssertionError("macro op rows must be in id order")


def get(op: int) -> Conv | Pool:
  """The row of op id `op` (a Python int).

  Raises:
    ValueError: no op has that id.
  """
  if not 0 <= op < len(OPS):
    raise ValueError(f"unknown macro op {op}")
  return OPS[op]
