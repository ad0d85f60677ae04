"""Building blocks of the ENAS image children, shared and fixed (Pham et al. 2018).

Keras 3 layers (TensorFlow backend) written with raw TF ops, NHWC, float32:

* `BatchNorm`: fused batch norm; optional moving statistics (final models) or
  batch statistics only (the supergraphs).
* `ConvBN`: ``[ReLU] -> conv kxk (or separable) -> BN [-> ReLU]``.
* `ConvBranch`, `PoolBranch`: the macro ops (§2.3): a 1x1 conv-BN-ReLU, then a
  kxk (separable) conv-BN-ReLU, or a 3x3 pool.
* `SepConvStack`: the micro sep_conv op: two stacked ReLU-sepconv-BN;
  `SepConvTable` the same with *weight sets*, rows of one table of which one
  is gathered per call (micro sharing, §2.4).
* `FactorizedReduction`: stride 2 without losing half the pixels: two 1x1
  convs on the even and on the odd (shifted) pixels, concatenated, BN.
* `AuxHead`: the micro auxiliary classifier.
* `select`: run one of several branches, chosen by a Python int (fixed
  architecture) or an int32 tensor (``tf.switch_case``: only that branch runs).

and the training step both supergraphs share (`SharedWeightModel`,
`NesterovMomentum`), so that the macro and micro supergraphs differ only in
their forward pass. Blocks built with ``moving_stats=False`` (the
supergraphs) always normalise with batch statistics.

Weights are He-normal over the fan-in of ONE weight set (the official 2-D
weight tables got their fan-in from the number of table rows instead).
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from controller import errors
from enas import heap
from enas.image import distribute

_TRUNC_STD = 0.87962566103423978  # std of a unit normal truncated at +-2.


def he_normal(fan_in: int) -> keras.initializers.Initializer:
  """He-normal (truncated) with an explicit fan-in."""
  return keras.initializers.TruncatedNormal(
      stddev=math.sqrt(2.0 / max(fan_in, 1)) / _TRUNC_STD)


def select(index: Any, branches: Sequence[Callable[[], Any]]) -> Any:
  """Runs ``branches[index]``.

  Args:
    index: a Python int (the branch is picked while building: a fixed
      architecture) or a scalar int32 tensor (``tf.switch_case``: one graph for
      every choice, and only the chosen branch runs; out-of-range indices run
      the last branch, so validate architectures before feeding them).
    branches: zero-argument callables returning same-shaped results.
  """
  if isinstance(index, (int, np.integer)):
    return branches[int(index)]()
  return tf.switch_case(index, list(branches))


def pool2d(x: tf.Tensor, kind: str, strides: int = 1, size: int = 3,
           padding: str = "SAME") -> tf.Tensor:
  """``kind`` in {"avg", "max"} pooling (SAME avg excludes the padding)."""
  if kind == "max":
    return _max_pool(x, size, strides, padding)
  return tf.nn.avg_pool2d(x, size, strides, padding)


def _max_pool(x, size: int, strides: int, padding: str) -> tf.Tensor:
  """Max pooling whose gradient recomputes the forward pooling.

  oneDNN's fast max-pool gradient needs the forward op's workspace in the
  same graph region. Inside a ``tf.switch_case`` branch the forward output
  reaches the gradient branch through an Optional, TensorFlow then falls back
  to its generic MaxPoolGrad kernel (8x slower here, 12 ms a call at batch 64,
  32x32x20: a fifth of a micro shared step). Recomputing the cheap forward
  next to the gradient keeps the oneDNN kernel. Same values and tie rule.
  """
  ksize, stride = [1, size, size, 1], [1, strides, strides, 1]

  @tf.custom_gradient
  def pool(inputs):
    inputs = tf.identity(inputs)  # this graph's (see `recompute_gradient`)

    def grad(upstream):
      again = tf.nn.max_pool2d(inputs, ksize, stride, padding)
      return tf.raw_ops.MaxPoolGrad(orig_input=inputs, orig_output=again,
                                    grad=upstream, ksize=ksize,
                                    strides=stride, padding=padding)
    return tf.nn.max_pool2d(inputs, ksize, stride, padding), grad

  return pool(x)


def recompute_gradient(fn: Callable[..., tf.Tensor],
                       *inputs: tf.Tensor) -> tf.Tensor:
  """``fn(*inputs)`` whose backward pass recomputes ``fn`` (gradient checkpoint).

  The forward pass keeps none of ``fn``'s intermediate tensors: the backward
  pass runs ``fn`` again from `inputs` and differentiates that. The
  recomputation waits for the upstream gradient, so graph optimisation cannot
  merge it with the forward ops (which would keep the intermediates alive
  again). Values and gradients equal plain ``fn``'s.

  The inputs are passed through ``tf.identity`` in the graph being built, so
  the gradient refers to this graph's tensors even when ``fn`` runs inside a
  ``tf.switch_case`` branch nested in a ``tf.while_loop`` body.
  """
  @tf.custom_gradient
  def run(*args):
    local = [tf.identity(a) for a in args]

    def grad(upstream):
      with tf.control_dependencies([upstream]):
        again = [tf.identity(a) for a in local]
      with tf.GradientTape() as tape:
        tape.watch(again)
        out = fn(*again)
      return tape.gradient(out, again, upstream)

    return fn(*local), grad

  return run(*inputs)


def global_avg_pool(x: tf.Tensor) -> tf.Tensor:
  return tf.reduce_mean(x, axis=[1, 2])


def batch_norm_train(x: tf.Tensor, gamma, beta, epsilon: float
                     ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Batch norm with batch statistics: ``(y, mean, variance)``.

  ``variance`` is the Bessel-corrected one (for moving averages), as the
  fused kernel returns; ``y`` uses the biased one. With one replica (no
  `tf.distribute` strategy, or one device) this is the fused kernel. Under a
  replica context of several replicas (`enas.image.distribute`) the
  statistics are synchronised: the sums of ``x`` and the counts, then the
  sums of ``(x - mean)^2``, are summed over the replicas
  (`distribute.sync_sum`, which also runs inside a supergraph's
  ``tf.switch_case`` branches), so every replica normalises with the
  statistics of the GLOBAL batch and the result equals one device's.
  """
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=epsilon,
                                            is_training=True)
  axes = list(range(len(x.shape) - 1))
  count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype)
  total, count = distribute.sync_sum([tf.reduce_sum(x, axes), count])
  mean = total / count
  # Two passes (centred squares), not E[x^2] - mean^2: that one cancels
  # badly in float32 when |mean| >> std (a stem conv of positive pixels).
  variance = distribute.sync_sum(
      [tf.reduce_sum(tf.square(x - mean), axes)])[0] / count
  y = tf.nn.batch_normalization(x, mean, variance, beta, gamma, epsilon)
  return y, mean, variance * count / tf.maximum(count - 1.0, 1.0)


@keras.saving.register_keras_serializable(package="rlnas")
class BatchNorm(keras.layers.Layer):
  """Batch norm over the channel axis (fused kernel, epsilon 1e-5).

  With ``moving_stats=False`` it always normalises with the batch statistics
  and keeps no moving averages: the ENAS supergraphs run batch norm in
  training mode during the search, for training AND for the controller's
  reward (official micro code; intended by the authors because one moving
  average cannot describe every child of a shared-weight model).
  """

  EPSILON = 1e-5

  def __init__(self, channels: int, *, moving_stats: bool = True,
               momentum: float = 0.9, epsilon: float = EPSILON, **kwargs):
    """Creates gamma (ones) and beta (zeros).

    Args:
      channels: C.
      moving_stats: keep moving mean/variance for inference.
      momentum: moving-average decay.
      epsilon: variance epsilon.
    """
    super().__init__(**kwargs)
    self.channels = channels
    self.moving_stats = moving_stats
    self.momentum = momentum
    self.epsilon = epsilon
    shape = (channels,)
    self.gamma = self.add_weight(shape=shape, initializer="ones", name="gamma")
    self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta")
    if moving_stats:
      self.moving_mean = self.add_weight(
          shape=(channels,), initializer="zeros", trainable=False,
          aggregation="only_first_replica", name="moving_mean")
      self.moving_variance = self.add_weight(
          shape=(channels,), initializer="ones", trainable=False,
          aggregation="only_first_replica", name="moving_variance")
    self.built = True

  def get_config(self):
    return {**super().get_config(), "channels": self.channels,
            "moving_stats": self.moving_stats, "momentum": self.momentum,
            "epsilon": self.epsilon}

  def call(self, x, training=False):
    """Normalises `x` (batch statistics in training or without moving ones)."""
    gamma, beta = self.gamma, self.beta
    if training or not self.moving_stats:
      y, mean, variance = batch_norm_train(x, gamma, beta, self.epsilon)
      if training and self.moving_stats:
        decay = self.momentum
        self.moving_mean.assign(decay * self.moving_mean + (1 - decay) * mean)
        self.moving_variance.assign(
            decay * self.moving_variance + (1 - decay) * variance)
      return y
    y, _, _ = tf.compat.v1.nn.fused_batch_norm(
        x, gamma, beta, mean=self.moving_mean, variance=self.moving_variance,
        epsilon=self.epsilon, is_training=False)
    return y


@keras.saving.register_keras_serializable(package="rlnas")
class ConvBN(keras.layers.Layer):
  """``[ReLU] -> conv (kxk, or depthwise kxk + pointwise 1x1) -> BN [-> ReLU]``.

  Convolutions have no bias (BN follows), SAME padding.
  """

  def __init__(self, in_channels: int, filters: int, kernel_size: int = 1, *,
               strides: int = 1, separable: bool = False,
               relu_before: bool = False, relu_after: bool = False,
               moving_stats: bool = True, **kwargs):
    """Creates the kernels and the batch norm.

    Args:
      in_channels: input channels.
      filters: output channels.
      kernel_size: k.
      strides: convolution stride.
      separable: depthwise kxk (channel multiplier 1) then pointwise 1x1.
      relu_before: ReLU on the input.
      relu_after: ReLU on the output.
      moving_stats: see `BatchNorm`.
    """
    super().__init__(**kwargs)
    self.in_channels = in_channels
    self.filters = filters
    self.kernel_size = kernel_size
    self.moving_stats = moving_stats
    self.strides = strides
    self.separable = separable
    self.relu_before = relu_before
    self.relu_after = relu_after
    k = kernel_size
    if separable:
      self.depthwise = self.add_weight(
          shape=(k, k, in_channels, 1),
          initializer=he_normal(k * k), name="depthwise")
      self.pointwise = self.add_weight(
          shape=(1, 1, in_channels, filters),
          initializer=he_normal(in_channels), name="pointwise")
    else:
      self.kernel = self.add_weight(
          shape=(k, k, in_channels, filters),
          initializer=he_normal(k * k * in_channels), name="kernel")
    self.bn = BatchNorm(filters, moving_stats=moving_stats, name="bn")
    self.built = True

  def get_config(self):
    return {**super().get_config(), "in_channels": self.in_channels,
            "filters": self.filters, "kernel_size": self.kernel_size,
            "strides": self.strides, "separable": self.separable,
            "relu_before": self.relu_before, "relu_after": self.relu_after,
            "moving_stats": self.moving_stats}

  def call(self, x, training=False):
    if self.relu_before:
      x = tf.nn.relu(x)
    strides = [1, self.strides, self.strides, 1]
    if self.separable:
      x = tf.nn.separable_conv2d(x, self.depthwise, self.pointwise, strides,
                                 "SAME")
    else:
      x = tf.nn.conv2d(x, self.kernel, strides, "SAME")
    x = self.bn(x, training=training)
    return tf.nn.relu(x) if self.relu_after else x


@keras.saving.register_keras_serializable(package="rlnas")
class ConvBranch(keras.layers.Layer):
  """Macro ops 0-3 (§2.3): 1x1 conv-BN-ReLU, then kxk (sep)conv-BN-ReLU.

  As the official shared model. (The official FIXED macro model builds the
  separable ops as ordinary convs; here separable means separable everywhere.)
  """

  def __init__(self, in_channels: int, filters: int, kernel_size: int, *,
               separable: bool = False, moving_stats: bool = True, **kwargs):
    super().__init__(**kwargs)
    self._config = dict(in_channels=in_channels, filters=filters,
                        kernel_size=kernel_size, separable=separable,
                        moving_stats=moving_stats)
    self.inp = ConvBN(in_channels, filters, 1, relu_after=True,
                      moving_stats=moving_stats, name="inp_conv")
    self.out = ConvBN(filters, filters, kernel_size, separable=separable,
                      relu_after=True, moving_stats=moving_stats,
                      name="out_conv")
    self.built = True

  def get_config(self):
    return {**super().get_config(), **self._config}

  def call(self, x, training=False):
    return self.out(self.inp(x, training=training), training=training)


@keras.saving.register_keras_serializable(package="rlnas")
class PoolBranch(keras.layers.Layer):
  """Macro ops 4-5 (§2.3): 1x1 conv-BN-ReLU, then 3x3 stride-1 avg/max pool."""

  def __init__(self, in_channels: int, filters: int, kind: str, *,
               moving_stats: bool = True, **kwargs):
    super().__init__(**kwargs)
    self._config = dict(in_channels=in_channels, filters=filters, kind=kind,
                        moving_stats=moving_stats)
    self.kind = kind
    self.inp = ConvBN(in_channels, filters, 1, relu_after=True,
                      moving_stats=moving_stats, name="inp_conv")
    self.built = True

  def get_config(self):
    return {**super().get_config(), **self._config}

  def call(self, x, training=False):
    return pool2d(self.inp(x, training=training), self.kind)


@keras.saving.register_keras_serializable(package="rlnas")
class SepConvStack(keras.layers.Layer):
  """Micro ops 0-1 (§2.4): ``num_stacks`` x (ReLU -> sepconv kxk -> BN).

  The first stack carries the stride (final reduction cells).
  """

  def __init__(self, in_channels: int, filters: int, kernel_size: int, *,
               strides: int = 1, num_stacks: int = 2,
               moving_stats: bool = True, **kwargs):
    super().__init__(**kwargs)
    self._config = dict(in_channels=in_channels, filters=filters,
                        kernel_size=kernel_size, strides=strides,
                        num_stacks=num_stacks, moving_stats=moving_stats)
    self.stacks = [
        ConvBN(in_channels if i == 0 else filters, filters, kernel_size,
               strides=strides if i == 0 else 1, separable=True,
               relu_before=True, moving_stats=moving_stats,
               name=f"stack_{i}")
        for i in range(num_stacks)]
    self.built = True

  def get_config(self):
    return {**super().get_config(), **self._config}

  def call(self, x, training=False):
    for stack in self.stacks:
      x = stack(x, training=training)
    return x


# The name of every `SepConvTable`'s weight: its gradient is clipped row by row.
WEIGHT_SET_TABLE = "weight_sets"


class SepConvTable(keras.layers.Layer):
  """The micro sep_conv op with one weight set per table row (§2.4 sharing).

  Same computation as `SepConvStack` (stride 1, batch statistics), but every
  weight of a set -- per stack the depthwise and pointwise kernels and the
  batch-norm scale and shift -- lives in ONE row of an ``[S, P]`` table, so
  that selecting a set is one gather: eight times fewer gathers, and gather
  gradients, than one table per weight. That matters in the micro
  supergraph, whose graph (and so its trace time and memory) is dominated by
  the weight selection of its 2 B (N + 2) input slots.
  """

  def __init__(self, channels: int, kernel_size: int, num_weight_sets: int,
               *, num_stacks: int = 2, **kwargs):
    """Creates the table.

    Args:
      channels: input and output channels.
      kernel_size: k.
      num_weight_sets: S, the table rows.
      num_stacks: ReLU-sepconv-BN blocks in a row.
    """
    super().__init__(**kwargs)
    c, k = channels, kernel_size
    self.num_weight_sets = num_weight_sets
    self.num_stacks = num_stacks
    self._parts = [((k, k, c, 1), he_normal(k * k)),
                   ((1, 1, c, c), he_normal(c)),
                   ((c,), keras.initializers.Ones()),
                   ((c,), keras.initializers.Zeros())] * num_stacks
    self._sizes = [int(np.prod(shape)) for shape, _ in self._parts]
    self.table = self.add_weight(shape=(num_weight_sets, sum(self._sizes)),
                                 initializer=self._initialize,
                                 name=WEIGHT_SET_TABLE)
    self.built = True

  def _initialize(self, shape, dtype=None):
    return tf.concat([init((shape[0], size), dtype=dtype) for (_, init), size
                      in zip(self._parts, self._sizes)], axis=1)

  def params(self, weight_set) -> tuple[tf.Tensor, ...]:
    """The weights of row `weight_set` (int or int32 scalar), in call order."""
    row = tf.gather(self.table, weight_set)
    return tuple(tf.reshape(piece, shape) for piece, (shape, _) in
                 zip(tf.split(row, self._sizes), self._parts))

  def call(self, x, params):
    """Applies the stacks with `params` = ``params(weight_set)``.

    The backward pass recomputes the stacks (`recompute_gradient`): each op
    then holds no activations between the passes, which halves the micro
    step's activation memory (measured at batch 160: 1.94 -> 0.97 GB) for
    about 15% more time.
    """
    return recompute_gradient(self._stacks, x, *params)

  def _stacks(self, x, *params):
    for i in range(self.num_stacks):
      depthwise, pointwise, gamma, beta = params[4 * i:4 * i + 4]
      x = tf.nn.separable_conv2d(tf.nn.relu(x), depthwise, pointwise,
                                 [1, 1, 1, 1], "SAME")
      x, _, _ = batch_norm_train(x, gamma, beta, BatchNorm.EPSILON)
    return x


@keras.saving.register_keras_serializable(package="rlnas")
class FactorizedReduction(keras.layers.Layer):
  """Halves the resolution without dropping pixels (official ENAS children).

  ``[ReLU] -> concat(conv1x1(x[::2, ::2]), conv1x1(shift(x)[::2, ::2])) -> BN``
  where shift pads one zero row/column at the bottom/right and drops the first
  row/column; each 1x1 conv gives half the filters (so `filters` is even).
  """

  def __init__(self, in_channels: int, filters: int, *,
               relu_before: bool = False, moving_stats: bool = True, **kwargs):
    super().__init__(**kwargs)
    if filters % 2:
      raise ValueError(f"factorized reduction needs even filters, got {filters}")
    self._config = dict(in_channels=in_channels, filters=filters,
                        relu_before=relu_before, moving_stats=moving_stats)
    self.relu_before = relu_before
    init = he_normal(in_channels)
    self.path1 = self.add_weight(shape=(1, 1, in_channels, filters // 2),
                                 initializer=init, name="path1")
    self.path2 = self.add_weight(shape=(1, 1, in_channels, filters // 2),
                                 initializer=init, name="path2")
    self.bn = BatchNorm(filters, moving_stats=moving_stats, name="bn")
    self.built = True

  def get_config(self):
    return {**super().get_config(), **self._config}

  def call(self, x, training=False):
    if self.relu_before:
      x = tf.nn.relu(x)
    path1 = tf.nn.conv2d(x, self.path1, 2, "VALID")
    shifted = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:, :]
    path2 = tf.nn.conv2d(shifted, self.path2, 2, "VALID")
    return self.bn(tf.concat([path1, path2], axis=-1), training=training)


@keras.saving.register_keras_serializable(package="rlnas")
class AuxHead(keras.layers.Layer):
  """Micro auxiliary classifier (official ``aux_head``).

  ReLU -> avg pool 5x5 stride 3 VALID -> 1x1 conv 128-BN-ReLU -> conv
  (pooled size)^2 to 768 -BN-ReLU -> global average -> dense, no bias. Batch
  norm in training mode (it only runs in training). Its weights are trained
  (the official code left them out of the optimizer's list).
  """

  def __init__(self, in_channels: int, spatial: int, num_classes: int, *,
               moving_stats: bool = False, **kwargs):
    super().__init__(**kwargs)
    self._config = dict(in_channels=in_channels, spatial=spatial,
                        num_classes=num_classes, moving_stats=moving_stats)
    pooled = (spatial - 5) // 3 + 1
    if pooled < 1:
      raise ValueError(
          f"the auxiliary head needs a feature map of at least 5x5, got "
          f"{spatial}x{spatial}: use larger images or disable the head")
    self.proj = ConvBN(in_channels, 128, 1, relu_after=True,
                       moving_stats=moving_stats, name="proj")
    self.conv = ConvBN(128, 768, pooled, relu_after=True,
                       moving_stats=moving_stats, name="conv")
    self.fc = self.add_weight(shape=(768, num_classes),
                              initializer=he_normal(768), name="fc")
    self.built = True

  def get_config(self):
    return {**super().get_config(), **self._config}

  def call(self, x, training=True):
    x = pool2d(tf.nn.relu(x), "avg", strides=3, size=5, padding="VALID")
    x = self.conv(self.proj(x, training=True), training=True)
    return tf.matmul(global_avg_pool(x), self.fc)


# ------------------------------------------------------------- training step
class NesterovMomentum:
  """SGD with Nesterov momentum, as TF1 ``MomentumOptimizer(use_nesterov)``.

  ``accum = m * accum + g;  w -= lr * (g + m * accum)`` (the official child
  optimizer), one fused ``ResourceApplyMomentum`` per variable. Plain rather
  than a Keras optimizer, so that a compiled step owns exactly the slots of
  the variables it updates (`apply` pairs `variables` with the slots in the
  order given to the constructor).
  """

  def __init__(self, variables: Sequence[Any], momentum: float = 0.9):
    self.momentum = momentum
    self.slots = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False,
                              name="momentum") for v in variables]

  def apply(self, grads, variables, learning_rate) -> None:
    for grad, var, accum in zip(grads, variables, self.slots):
      tf.raw_ops.ResourceApplyMomentum(
          var=var.handle, accum=accum.handle,
          lr=tf.cast(learning_rate, var.dtype), grad=_dense(grad),
          momentum=tf.constant(self.momentum, var.dtype), use_nesterov=True)


CLIP_MODES = ("norm", "global", "none")


def check_clip_mode(mode: str, name: str) -> None:
  """Raises `ConfigError` naming `name` unless `mode` is in `CLIP_MODES`."""
  if mode not in CLIP_MODES:
    raise errors.ConfigError(f"{name} must be one of {CLIP_MODES}, not {mode!r}")


def clip_gradients(grads: Sequence[tf.Tensor], mode: str, bound: float, *,
                   row_wise: Sequence[bool] = ()
                   ) -> tuple[list[tf.Tensor], dict[str, tf.Tensor]]:
  """Clips dense gradients; also returns their norms, to see if it bites.

  Modes:

  * ``'norm'``: each tensor to norm `bound` (``tf.clip_by_norm`` of each
    gradient), what the official ``clip_mode="norm"`` meant
    (melodyguan/enas 4bcfd73, ``src/utils.py`` ``get_train_ops``). That code
    computed the clipped tensor but appended the unclipped one, so in fact it
    clipped nothing: that is ``'none'``.
  * ``'global'``: all tensors together to global norm `bound`
    (``tf.clip_by_global_norm``).
  * ``'none'``: no clipping (what the official code did).

  ``bound = 0`` clips nothing in every mode. One sum of squares per tensor
  serves the global norm, the per-tensor norms and the clip.

  Args:
    grads: dense gradients.
    mode: one of `CLIP_MODES`.
    bound: the norm bound.
    row_wise: per gradient, True for a weight-set table (`SepConvTable`):
      in ``'norm'`` mode each row (one weight set, the unit the official code
      kept as its own variables) is clipped on its own.

  Returns:
    ``(clipped, stats)``: stats are scalars ``grad_norm`` (global, before
    clipping), ``max_grad_norm`` (largest per-tensor, or per-row, norm before
    clipping) and ``clipped`` (1.0 if clipping changed a gradient).
  """
  row_wise = list(row_wise) or [False] * len(grads)
  squares = [tf.reduce_sum(tf.square(g), axis=1 if rows else None)
             for g, rows in zip(grads, row_wise)]
  totals = [tf.reduce_sum(s) if rows else s
            for s, rows in zip(squares, row_wise)]
  norm = tf.sqrt(tf.add_n(totals))
  max_sq = tf.reduce_max(tf.stack(
      [tf.reduce_max(s) if rows else s for s, rows in zip(squares, row_wise)]))
  stats = {"grad_norm": norm, "max_grad_norm": tf.sqrt(max_sq)}
  bound = float(bound or 0.0)
  if mode == "global" and bound:
    grads, _ = tf.clip_by_global_norm(grads, bound, use_norm=norm)
    bites = norm > bound
  elif mode == "norm" and bound:
    clipped = []
    for g, s, rows in zip(grads, squares, row_wise):
      # g * bound / max(|g|, bound), as tf.clip_by_norm.
      scale = bound * tf.math.rsqrt(tf.maximum(s, bound * bound))
      clipped.append(g * (scale[:, None] if rows else scale))
    grads = clipped
    bites = max_sq > bound * bound
  else:
    bites = tf.constant(False)
  stats["clipped"] = tf.cast(bites, tf.float32)
  return list(grads), stats


def _dense(grad):
  if isinstance(grad, tf.IndexedSlices):
    return tf.convert_to_tensor(grad)
  return grad


def as_arc_tensor(arc_tokens: Any) -> tf.Tensor:
  """An `Architecture`, a token sequence or a tensor as an int32 vector."""
  if isinstance(arc_tokens, tf.Tensor):
    return tf.cast(arc_tokens, tf.int32)
  tokens = getattr(arc_tokens, "tokens", arc_tokens)
  return tf.constant(np.asarray(tokens, dtype=np.int32))


def as_static_arc(arc_tokens: Any) -> tuple[int, ...]:
  """An `Architecture`, a token sequence or a tensor as a tuple of ints."""
  if isinstance(arc_tokens, tf.Tensor):
    arc_tokens = arc_tokens.numpy()
  tokens = getattr(arc_tokens, "tokens", arc_tokens)
  return tuple(int(t) for t in tokens)


class SharedWeightModel(keras.Model):
  """The ENAS child training step, shared by the image supergraphs (§2.1).

  A `keras.Model` subclass (so Keras tracks, saves and lists the weights),
  trained by its own compiled functions, NOT by ``fit()``: `train_step` here
  is the ENAS shared-weight step and takes the architecture as an input.

  Subclasses build their layers in ``__init__``, then call
  ``self._compile_steps()``, and implement ``_forward(images, arc, training)
  -> (logits, aux_logits or None)`` where ``arc`` is an int32 tensor (one
  graph for every architecture) or a tuple of ints (a fixed architecture).

  The step (official child settings): cross-entropy (+ ``aux_weight`` x the
  auxiliary head's) plus ``l2_reg * sum(w^2)`` over ALL weights, as the
  official ``get_train_ops`` (so unchosen branches decay too); gradients
  clipped by `clip_gradients` in mode `clip_mode` at `grad_bound`; Nesterov
  momentum SGD.

  Rewards (`eval_accuracy`) run with ``training`` False (dropout off) or True
  (dropout on, as the official micro search's reward graph); batch norm
  always uses batch statistics here.

  Built in the scope of an `enas.image.distribute.Distribution` of several
  devices, the steps run data parallel on them and equal one device's at the
  same batch: global-batch loss shares, summed gradients, synchronised batch
  norm, and the dropout mask one device would draw (its seed drawn before
  the step from the same saved stream).
  """

  def __init__(self, space, *, input_shape: Sequence[int], num_classes: int,
               keep_prob: float, l2_reg: float, grad_bound: float,
               momentum: float, aux_weight: float = 0.0, **kwargs):
    super().__init__(**kwargs)
    self.space = space
    self.image_shape = tuple(int(d) for d in input_shape)
    self.num_classes = num_classes
    self.keep_prob = keep_prob
    self.l2_reg = l2_reg
    self.grad_bound = grad_bound
    self.momentum = momentum
    self.aux_weight = aux_weight
    self._clip_mode = "global"
    self._train_traces = 0
    self._eval_traces = 0
    # The dropout stream, seeded from the global seed and saved with the
    # weights (`checkpoint_variables`), so a resumed search is exact.
    self._dropout_seeds = [tf.random.Generator.from_seed(
        int(np.random.randint(2**31 - 1)))]
    dist = distribute.active()
    self._distribution = dist if dist is not None and dist.num_replicas > 1 else None
    self._replica_local = threading.local()  # the step's dropout seed, per replica

  # ------------------------------------------------------------ subclasses
  def _forward(self, images, arc, training):
    raise NotImplementedError

  def _compile_steps(self) -> None:
    self._sgd = NesterovMomentum(self.trainable_weights, self.momentum)
    images = tf.TensorSpec([None, *self.image_shape], tf.float32)
    labels = tf.TensorSpec([None], tf.int32)
    arc = tf.TensorSpec([self.space.num_tokens], tf.int32)
    # After each function's first (compiling) run, the compile's freed heap
    # goes back to the OS (`heap`).
    if self._distribution is not None:
      self._compile_replica_steps()
      return
    self._train_fn = heap.release_after_first_call(tf.function(
        self._train, autograph=False,
        input_signature=(images, labels, arc, tf.TensorSpec([], tf.float32))))
    # One eval function per reward mode (dropout off / on), each traced once.
    self._eval_fns = {training: heap.release_after_first_call(tf.function(
        self._eval_function(training), autograph=False,
        input_signature=(images, labels, arc))) for training in (False, True)}

  def _compile_replica_steps(self) -> None:
    """The train and eval steps on the distribution's replicas."""
    dist = self._distribution

    def train(images, labels, arc, learning_rate, seed):
      self._count_trace("_train_traces")
      self._replica_local.seed = seed
      return self._step(images, labels, arc, learning_rate,
                        self.trainable_weights, self._sgd)

    def evaluation(training):
      def evaluate(images, labels, arc, seed):
        self._count_trace("_eval_traces")
        self._replica_local.seed = seed
        return _accuracy(self._forward(images, arc, training)[0], labels)
      return evaluate

    self._train_fn = heap.release_after_first_call(
        dist.wrap_step(train, num_batch_args=2))
    self._eval_fns = {training: heap.release_after_first_call(
        dist.wrap_step(evaluation(training), num_batch_args=2))
                      for training in (False, True)}

  def _count_trace(self, counter: str) -> None:
    """One trace per step function, however many replicas trace it."""
    context = tf.distribute.get_replica_context()
    if tf.get_static_value(context.replica_id_in_sync_group) == 0:
      setattr(self, counter, getattr(self, counter) + 1)

  def _step_seed(self, training: bool) -> tuple[tf.Tensor, ...]:
    """The dropout seed of a replica step, drawn now (eagerly) exactly when
    one device's step would draw it in its graph; zeros otherwise."""
    if training and self.keep_prob < 1.0:
      return (self._dropout_seeds[0].make_seeds(1)[:, 0],)
    return (tf.zeros([2], tf.int64),)

  def _classify(self, features, training):
    """Global average pool -> dropout (training) -> dense without bias."""
    x = global_avg_pool(features)
    if training and self.keep_prob < 1.0:
      if self._distribution is None:
        seed = self._dropout_seeds[0].make_seeds(1)[:, 0]
        x = tf.nn.experimental.stateless_dropout(
            x, rate=1.0 - self.keep_prob, seed=seed)
      else:
        x = tf.nn.experimental.general_dropout(
            x, rate=1.0 - self.keep_prob,
            uniform_sampler=distribute.global_batch_uniform(
                self._replica_local.seed))
    return tf.matmul(x, self.classifier)

  # ---------------------------------------------------------------- public
  @property
  def trace_count(self) -> int:
    """Python traces of the compiled train and eval functions.

    At most one per function: the train step, and one eval function per
    reward mode used (``training`` False or True), so 2 for a search with
    one reward mode and 3 at most. A further trace would be a retrace bug.
    """
    return self._train_traces + self._eval_traces

  @property
  def clip_mode(self) -> str:
    """How the step clips gradients (`clip_gradients`).

    'global' unless set; the ENAS evaluator sets `EnasConfig.clip_mode`
    ('norm', the official intent, in the paper settings) before its first
    step. Read when the step is traced, so set it before the first
    `train_step`.
    """
    return self._clip_mode

  @clip_mode.setter
  def clip_mode(self, mode: str) -> None:
    check_clip_mode(mode, "SharedWeightModel.clip_mode")
    if self._train_traces and mode != self._clip_mode:
      raise RuntimeError("set clip_mode before the first train_step: the "
                         "compiled step has read it")
    self._clip_mode = mode

  @property
  def train_trace_count(self) -> int:
    """Python traces of the compiled train function alone (1 at most)."""
    return self._train_traces

  def checkpoint_variables(self) -> list[tf.Variable]:
    """Everything a resumed search needs: weights, momentum slots, dropout."""
    return (list(self.weights) + list(self._sgd.slots)
            + [self._dropout_seeds[0].state])

  def logits(self, images, arc_tokens, training: bool = False, *,
             static: bool = False) -> tf.Tensor:
    """Logits of the child `arc_tokens` (eager unless called in a graph).

    Args:
      images: ``[N, H, W, C]`` float32.
      arc_tokens: an `Architecture`, its tokens (sampling order) or an int32
        tensor.
      training: dropout on (batch norm always uses batch statistics).
      static: build the fixed architecture (Python ints) instead of the
        switch graph.
    """
    arc = as_static_arc(arc_tokens) if static else as_arc_tensor(arc_tokens)
    return self._forward(tf.convert_to_tensor(images, tf.float32), arc,
                         training)[0]

  def train_step(self, images, labels, arc_tokens, learning_rate):
    """One shared-weight SGD step of the child `arc_tokens` (one compiled fn).

    Returns:
      dict of scalars: ``loss`` (the batch's cross-entropy before the update,
      main head), ``accuracy`` (of that batch), ``grad_norm`` (global norm
      before clipping), ``max_grad_norm`` (largest per-tensor norm before
      clipping), ``clipped`` (1.0 if clipping changed a gradient, else 0.0).
    """
    seed = () if self._distribution is None else self._step_seed(True)
    return self._train_fn(tf.convert_to_tensor(images, tf.float32),
                          tf.convert_to_tensor(labels, tf.int32),
                          as_arc_tensor(arc_tokens),
                          tf.convert_to_tensor(learning_rate, tf.float32),
                          *seed)

  def eval_accuracy(self, images, labels, arc_tokens,
                    training: bool = False) -> tf.Tensor:
    """Accuracy of the child on a batch, with batch-statistics BN.

    Args:
      images: ``[N, H, W, C]`` float32.
      labels: ``[N]`` int32.
      arc_tokens: an `Architecture`, its tokens or an int32 tensor.
      training: dropout on (the official micro search's reward graph,
        melodyguan/enas 4bcfd73 ``micro_child._model`` forces
        ``is_training=True`` while searching); False: dropout off (the
        official macro reward). Each mode is one compiled function; the
        training mode's dropout draws from the saved dropout stream.
    """
    seed = () if self._distribution is None else self._step_seed(training)
    return self._eval_fns[bool(training)](
        tf.convert_to_tensor(images, tf.float32),
        tf.convert_to_tensor(labels, tf.int32), as_arc_tensor(arc_tokens),
        *seed)

  def fixed_train_step(self, arc_tokens) -> Callable[..., dict]:
    """A separately compiled step of ONE architecture, as a standalone model.

    The architecture is a Python constant: only the chosen ops are in the
    graph, and only the variables they use are read, decayed, clipped and
    updated (with their own momentum slots; a weight-set table is used, and
    so decayed and updated, as a whole, though only its chosen rows act).
    Same code as the shared step, so timing the two isolates the cost of
    weight sharing.

    Returns:
      ``step(images, labels, learning_rate) -> dict`` like `train_step`, with
      attributes ``variables_used`` and ``num_child_params`` (weights the
      child really uses: chosen table rows only).
    """
    arc = as_static_arc(arc_tokens)
    self.space.validate(arc)
    probe = tf.zeros([2, *self.image_shape])
    with tf.GradientTape() as tape:
      logits, aux = self._forward(probe, arc, True)
      total = tf.reduce_sum(logits) + (0.0 if aux is None else
                                       tf.reduce_sum(aux))
    grads = tape.gradient(total, self.trainable_weights)
    used = [v for v, g in zip(self.trainable_weights, grads) if g is not None]
    sgd = NesterovMomentum(used, self.momentum)
    child_params = 0
    for v, g in zip(self.trainable_weights, grads):
      if isinstance(g, tf.IndexedSlices):  # rows of a weight-set table
        rows = np.unique(g.indices.numpy()).size
        child_params += rows * int(np.prod(v.shape[1:]))
      elif g is not None:
        child_params += int(np.prod(v.shape))

    def step(images, labels, learning_rate):
      return self._step(images, labels, arc, learning_rate, used, sgd)

    fn = heap.release_after_first_call(tf.function(
        step, autograph=False, input_signature=(
            tf.TensorSpec([None, *self.image_shape], tf.float32),
            tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.float32))))
    fn.variables_used = used
    fn.num_child_params = child_params
    return fn

  # --------------------------------------------------------------- private
  def _step(self, images, labels, arc, learning_rate, variables, sgd):
    with tf.GradientTape() as tape:
      logits, aux = self._forward(images, arc, True)
      # (Several replicas: each one's share of the global mean.)
      loss = distribute.local_mean(
          tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
      objective = loss
      if aux is not None and self.aux_weight:
        objective += self.aux_weight * distribute.local_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels, aux))
    grads = tape.gradient(objective, variables)
    # Known by the variable, not by the gradient's type: inside the micro
    # node loop a table's gradient comes back dense.
    rows = [v.name == WEIGHT_SET_TABLE for v in variables]
    grads = distribute.replica_sum(
        [tf.zeros_like(v) if g is None else _dense(g)
         for g, v in zip(grads, variables)])
    if self.l2_reg:  # d/dw of l2 * sum(w^2)
      grads = [g + (2.0 * self.l2_reg) * v for g, v in zip(grads, variables)]
    grads, stats = clip_gradients(grads, self._clip_mode, self.grad_bound,
                                  row_wise=rows)
    sgd.apply(grads, variables, learning_rate)
    return {"loss": distribute.replica_sum(loss),
            "accuracy": _accuracy(logits, labels), **stats}

  def _train(self, images, labels, arc, learning_rate):
    self._train_traces += 1
    return self._step(images, labels, arc, learning_rate,
                      self.trainable_weights, self._sgd)

  def _eval_function(self, training: bool):
    def evaluate(images, labels, arc):
      self._eval_traces += 1
      return _accuracy(self._forward(images, arc, training)[0], labels)
    return evaluate


def _accuracy(logits, labels):
  """Accuracy of the batch (the global batch's, summed over replicas)."""
  predictions = tf.argmax(logits, axis=1, output_type=tf.int32)
  return distribute.replica_sum(distribute.local_mean(
      tf.cast(tf.equal(predictions, labels), tf.float32)))
