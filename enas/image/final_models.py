"""ENAS final models: one fixed architecture, retrained from scratch (§3.2).

Pham et al. 2018, §3.2 ("we retrain from scratch" the derived architecture),
with the layouts of the official fixed-architecture children (melodyguan/enas
``general_child.py`` and ``micro_child.py`` with ``fixed_arc``). Unlike the
supergraphs, these are plain Keras models holding ONLY the chosen ops, with
moving-average batch norm for inference.

Macro (§2.3), `build_macro_final`, for L layers (24 in the official run):

  stem:     conv3x3 (F) -> BN                                    = node 0
  layer i:  y = op_i(node i)                                     (F_i wide)
            if i > 0: y = BN(conv1x1(ReLU(concat(skipped nodes, y))))
                                                                 = node i + 1
  after each layer of `image_spaces.macro_pool_layers` ([7, 15] for 24):
            the width doubles and every node so far is replaced by its
            factorized reduction (stride 2) at the new width
  head:     global average pool -> dropout(keep_prob) -> dense (no bias)

  Ops: ReLU-conv1x1-BN, then ReLU-(separable) kxk conv-BN for ops 0-3;
  ReLU-conv1x1-BN then a 3x3 stride-1 pool for ops 4-5. Differences from the
  official fixed child, on purpose (official bugs 3 and 4): ops 1 and 3 are
  REAL separable convs (the official one built ordinary kxk convs), the
  pooling ops 4 and 5 are built (the official one left them undefined); like
  the official one, the macro model has no auxiliary head and no drop path.

Micro (§2.4), `build_micro_final`, for N normal cells (15 in the official
run) and F filters:

  stem:    conv3x3 (3F) -> BN; the first cell's two inputs are the stem
  cells:   N + 2 cells, reduction cells at `image_spaces.micro_reduction_cells`
           ([5, 11] for 15), each doubling the width; cell c reads the
           outputs of cells c - 2 and c - 1
  cell:    calibrate both inputs to the cell's width F_c and the second
           input's resolution (ReLU-conv1x1-BN, or ReLU-factorized reduction
           when the first input is twice as large);
           node n = op_1(input index_1) + op_2(input index_2); in a reduction
           cell the ops reading the cell inputs 0 and 1 have stride 2
           (identity becomes a factorized reduction);
           output = BN(conv1x1(ReLU(concat of the loose ends))), loose ends
           at the cell's input resolution being factorized-reduced first
  drop path on every sep-conv and pool branch while training, keep
           probability ``1 - (layer + 1) / (N + 2) * (1 - p)``, itself moved
           from 1 towards that value by the training progress (`DropPath`)
  head:    ReLU -> global average pool -> dropout(keep_prob) -> dense (no
           bias); auxiliary head after the cell following the last reduction
           (official ``aux_head_indices``), trained (official bug 6 left its
           weights out of the optimizer).

  Difference from the official fixed child: its cell output is the bare
  concatenation of the loose ends (k F channels) and every cell starts with
  an extra ReLU-conv1x1-BN (``layer_base``) on its second input. Here the
  cell ends in ReLU-conv1x1-BN to F_c as in the ENAS search model (§2.4), so
  every cell output is F_c wide and the ``layer_base`` projection would be a
  second 1x1 conv in a row; it is left out.

All convolutions have no bias (BN follows), He-normal initialisation, NHWC.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from enas.image import ops as image_ops
from enas.image import spaces as image_spaces

# Op ids of `image_spaces.MACRO_OPS` and `image_spaces.MICRO_OPS`.
_MACRO_KERNEL = {0: 3, 1: 3, 2: 5, 3: 5}
_MACRO_POOL = {4: "avg", 5: "max"}
_MICRO_SEP = {0: 3, 1: 5}
_MICRO_POOL = {2: "avg", 3: "max"}
_MICRO_IDENTITY = 4


def count_params(model: keras.Model, *, include_aux_head: bool = True) -> int:
  """Trainable parameters of `model`.

  Args:
    model: any Keras model (a final model, after construction).
    include_aux_head: count the micro auxiliary head too. The official code
      printed the count without it (its aux head was outside the variable
      list it counted).
  """
  skip = set()
  aux = getattr(model, "aux_head", None)
  if not include_aux_head and aux is not None:
    skip = {id(w) for w in aux.trainable_weights}
  return int(sum(np.prod(w.shape) for w in model.trainable_weights
                 if id(w) not in skip))


class DropPath(keras.layers.Layer):
  """Scheduled drop path of one micro cell (official ``_apply_drop_path``).

  While training, a branch output is zeroed per example with probability
  ``1 - keep`` and otherwise scaled by ``1 / keep``, where

    keep_layer = 1 - (layer + 1) / num_cells * (1 - keep_prob)
    keep       = 1 - min(progress, 1) * (1 - keep_layer)

  so deeper cells drop more, and dropping ramps up linearly with training
  progress (the official code used ``(global_step + 1) / total_steps``).
  Identity at inference, and whenever ``keep`` is 1.
  """

  def __init__(self, keep_prob: float, layer: int, num_cells: int, **kwargs):
    """Args: the base keep probability, the cell index, N + 2 cells."""
    super().__init__(**kwargs)
    if not 0.0 < keep_prob <= 1.0:
      raise ValueError(
          f"drop path keep_prob must be in (0, 1], got {keep_prob}")
    self.keep_prob = keep_prob
    self.layer_keep = 1.0 - (layer + 1) / num_cells * (1.0 - keep_prob)
    self.built = True

  def keep(self, progress) -> tf.Tensor:
    """The keep probability at training `progress` (0 = start, 1 = end)."""
    ratio = tf.clip_by_value(tf.cast(progress, tf.float32), 0.0, 1.0)
    return 1.0 - ratio * (1.0 - self.layer_keep)

  def call(self, x, progress=0.0, training=False):
    """Drops whole examples of `x` while training; `progress` in [0, 1]."""
    if not training or self.keep_prob >= 1.0:
      return x
    keep = self.keep(progress)
    batch = tf.shape(x)[0]
    mask = tf.floor(keep + tf.random.uniform([batch, 1, 1, 1], dtype=x.dtype))
    return x / keep * mask


# -------------------------------------------------------------------- macro
class _MacroOp(keras.layers.Layer):
  """Macro op `op` of the final model: ReLU-1x1-BN, then conv or pool."""

  def __init__(self, op: int, in_channels: int, filters: int, **kwargs):
    super().__init__(**kwargs)
    if op not in _MACRO_KERNEL and op not in _MACRO_POOL:
      raise ValueError(f"unknown macro op {op}")
    self.op = op
    self.inp = image_ops.ConvBN(in_channels, filters, 1, relu_before=True,
                                name="inp_conv")
    self.conv = None
    if op in _MACRO_KERNEL:
      self.conv = image_ops.ConvBN(filters, filters, _MACRO_KERNEL[op],
                                   separable=op in (1, 3), relu_before=True,
                                   name=f"out_conv{_MACRO_KERNEL[op]}")
    self.built = True

  def call(self, x, training=False):
    x = self.inp(x, training=training)
    if self.conv is not None:
      return self.conv(x, training=training)
    return image_ops.pool2d(x, _MACRO_POOL[self.op])


class MacroFinalModel(keras.Model):
  """A fixed macro architecture (see the module docstring).

  Attributes:
    arc: the decoded `image_spaces.MacroArc`.
    layer_widths: output channels of each layer (doubling after each pool
      layer).
    layer_sizes: output height (= width) of each layer.
    aux_head: always None (macro children have no auxiliary head).
  """

  def __init__(self, arc: image_spaces.MacroArc, *,
               input_shape: Sequence[int], num_classes: int,
               out_filters: int = 96, keep_prob: float = 0.5,
               name: str = "macro_final"):
    super().__init__(name=name)
    self.arc = arc
    self.image_shape = tuple(int(d) for d in input_shape)
    self.keep_prob = keep_prob
    self.aux_head = None
    h, _, c = self.image_shape
    f = out_filters
    self.stem = image_ops.ConvBN(c, f, 3, name="stem")
    self.ops, self.skips, self.reductions = [], [], {}
    self.layer_widths, self.layer_sizes = [], []
    for layer in arc.layers:
      i = layer.index
      self.ops.append(_MacroOp(layer.op, f, f, name=f"layer_{i}_op"))
      self.skips.append(None if i == 0 else image_ops.ConvBN(
          (1 + len(layer.skips)) * f, f, 1, relu_before=True,
          name=f"layer_{i}_skip"))
      self.layer_widths.append(f)
      self.layer_sizes.append(h)
      if i in arc.pool_layers:
        self.reductions[i] = [image_ops.FactorizedReduction(
            f, 2 * f, name=f"pool_at_{i}_from_{j}") for j in range(i + 2)]
        f, h = 2 * f, (h + 1) // 2
    self._reduction_list = [r for i in sorted(self.reductions)
                            for r in self.reductions[i]]  # tracked by Keras
    self.classifier = self.add_weight(
        shape=(f, num_classes), initializer=image_ops.he_normal(f),
        name="classifier")
    self.built = True

  def call(self, images, training=False):
    """Logits ``[N, num_classes]``."""
    nodes = [self.stem(images, training=training)]
    for layer, op, skip in zip(self.arc.layers, self.ops, self.skips):
      out = op(nodes[-1], training=training)
      if skip is not None:
        out = skip(tf.concat([nodes[j] for j in layer.skips] + [out], -1),
                   training=training)
      nodes.append(out)
      if layer.index in self.reductions:
        nodes = [r(n, training=training)
                 for r, n in zip(self.reductions[layer.index], nodes)]
    # As the official final macro head: no ReLU before the pooling.
    x = image_ops.global_avg_pool(nodes[-1])
    if training and self.keep_prob < 1.0:
      x = tf.nn.dropout(x, rate=1.0 - self.keep_prob)
    return tf.matmul(x, self.classifier)


def build_macro_final(arc: image_spaces.ArcLike, *, input_shape: Sequence[int],
                      num_classes: int, out_filters: int = 96,
                      keep_prob: float = 0.5,
                      name: str = "macro_final") -> MacroFinalModel:
  """Builds the final model of a macro architecture (ENAS §2.3, §3.2).

  Args:
    arc: an `Architecture` of a `macro_space`, its tokens or the official
      text; the number of layers follows from its length (pool layers from
      `image_spaces.macro_pool_layers`).
    input_shape: ``(H, W, C)``.
    num_classes: classifier outputs.
    out_filters: F of the first stage (96 in the official final run); it
      doubles at each of the two reductions.
    keep_prob: dropout keep probability before the classifier (0.5).
    name: Keras name.

  Returns:
    A built `MacroFinalModel`: ``model(images, training) -> logits``.
  """
  return MacroFinalModel(image_spaces.decode_macro(arc),
                         input_shape=input_shape, num_classes=num_classes,
                         out_filters=out_filters, keep_prob=keep_prob,
                         name=name)


# -------------------------------------------------------------------- micro
class FinalCell(keras.layers.Layer):
  """One fixed micro cell of the final model (§2.4)."""

  def __init__(self, cell: image_spaces.MicroCell,
               input_shapes: Sequence[tuple[int, int]], filters: int, *,
               reduction: bool, drop_path: DropPath | None, **kwargs):
    """Builds the calibration, the chosen ops and the output projection.

    Args:
      cell: the decoded cell.
      input_shapes: ``(size, channels)`` of the two inputs.
      filters: F_c, the width of every node and of the output.
      reduction: ops on the cell inputs have stride 2.
      drop_path: applied to sep-conv and pool branches while training.
    """
    super().__init__(**kwargs)
    (h0, c0), (h1, c1) = input_shapes
    f = filters
    self.cell = cell
    self.reduction = reduction
    self.drop_path = drop_path
    self.calibrate = [None, None]
    if h0 != h1:
      if h0 != 2 * h1:
        raise ValueError(f"cell inputs of sizes {h0} and {h1}")
      self.calibrate[0] = image_ops.FactorizedReduction(
          c0, f, relu_before=True, name="calib_0")
    elif c0 != f:
      self.calibrate[0] = image_ops.ConvBN(c0, f, 1, relu_before=True,
                                           name="calib_0")
    if c1 != f:
      self.calibrate[1] = image_ops.ConvBN(c1, f, 1, relu_before=True,
                                           name="calib_1")
    self.branches = []
    for n, node in enumerate(cell.nodes):
      for slot, (source, op) in enumerate(((node.index_1, node.op_1),
                                           (node.index_2, node.op_2))):
        stride = 2 if reduction and source < 2 else 1
        name = f"node_{n + 2}_{slot}"
        if op in _MICRO_SEP:
          layer = image_ops.SepConvStack(f, f, _MICRO_SEP[op], strides=stride,
                                         name=f"{name}_sep{_MICRO_SEP[op]}")
        elif op == _MICRO_IDENTITY and stride == 2:
          layer = image_ops.FactorizedReduction(f, f, name=f"{name}_reduce")
        elif op in _MICRO_POOL or op == _MICRO_IDENTITY:
          layer = None
        else:
          raise ValueError(f"unknown micro op {op}")
        self.branches.append((source, op, stride, layer))
    self._branch_layers = [b[3] for b in self.branches if b[3] is not None]
    self.loose_ends = cell.loose_ends
    self.loose_reductions = {
        i: image_ops.FactorizedReduction(f, f, name=f"loose_{i}_reduce")
        for i in self.loose_ends if reduction and i < 2}
    self._loose_list = list(self.loose_reductions.values())
    self.out = image_ops.ConvBN(len(self.loose_ends) * f, f, 1,
                                relu_before=True, name="out_conv")
    self.output_size = h1 // 2 if reduction else h1
    self.built = True

  def _branch(self, x, op, stride, layer, progress, training):
    if layer is not None:
      x = layer(x, training=training)
    elif op in _MICRO_POOL:
      x = image_ops.pool2d(x, _MICRO_POOL[op], strides=stride)
    if op != _MICRO_IDENTITY and self.drop_path is not None:
      x = self.drop_path(x, progress=progress, training=training)
    return x

  def call(self, inputs, progress=0.0, training=False):
    """The cell output from its two inputs, at training `progress`."""
    nodes = [x if cal is None else cal(x, training=training)
             for x, cal in zip(inputs, self.calibrate)]
    for n in range(len(self.cell.nodes)):
      terms = [self._branch(nodes[source], op, stride, layer, progress,
                            training)
               for source, op, stride, layer in self.branches[2 * n:2 * n + 2]]
      nodes.append(terms[0] + terms[1])
    loose = [self.loose_reductions[i](nodes[i], training=training)
             if i in self.loose_reductions else nodes[i]
             for i in self.loose_ends]
    return self.out(tf.concat(loose, axis=-1), training=training)


class MicroFinalModel(keras.Model):
  """A fixed micro architecture (see the module docstring).

  Attributes:
    arc: the decoded `image_spaces.MicroArc`.
    reduction_cells: positions of the reduction cells among the N + 2.
    cell_widths: output channels of each cell.
    cell_sizes: output height (= width) of each cell.
    aux_head: the `image_ops.AuxHead` or None.
    aux_index: the cell the auxiliary head reads, or None.
    progress: non-trainable scalar in [0, 1] scheduling drop path; the
      trainer assigns ``(step + 1) / total_steps``.
  """

  def __init__(self, arc: image_spaces.MicroArc, *,
               input_shape: Sequence[int], num_classes: int,
               num_layers: int = 15, out_filters: int = 36,
               keep_prob: float = 0.8, aux_head: bool = True,
               drop_path_keep_prob: float | None = 0.6,
               name: str = "micro_final"):
    super().__init__(name=name)
    self.arc = arc
    self.image_shape = tuple(int(d) for d in input_shape)
    self.keep_prob = keep_prob
    self.num_layers = num_layers
    self.reduction_cells = image_spaces.micro_reduction_cells(num_layers)
    self.aux_index = self.reduction_cells[-1] + 1 if aux_head else None
    self.progress = self.add_weight(shape=(), initializer="zeros",
                                    trainable=False, name="progress")
    h, _, c = self.image_shape
    f = out_filters
    num_cells = num_layers + 2
    self.stem = image_ops.ConvBN(c, 3 * f, 3, name="stem")
    shapes = [(h, 3 * f), (h, 3 * f)]
    self.cells, self.cell_widths, self.cell_sizes = [], [], []
    self.aux_head = None
    for layer in range(num_cells):
      reduction = layer in self.reduction_cells
      if reduction:
        f *= 2
      drop_path = None
      if drop_path_keep_prob is not None and drop_path_keep_prob < 1.0:
        drop_path = DropPath(drop_path_keep_prob, layer, num_cells,
                             name=f"cell_{layer}_drop_path")
      cell = FinalCell(arc.reduction if reduction else arc.normal, shapes, f,
                       reduction=reduction, drop_path=drop_path,
                       name=f"cell_{layer}")
      self.cells.append(cell)
      self.cell_widths.append(f)
      self.cell_sizes.append(cell.output_size)
      shapes = [shapes[1], (cell.output_size, f)]
      if layer == self.aux_index:
        self.aux_head = image_ops.AuxHead(f, cell.output_size, num_classes,
                                          name="aux_head")
    self.classifier = self.add_weight(
        shape=(f, num_classes), initializer=image_ops.he_normal(f),
        name="classifier")
    self.built = True

  def call(self, images, training=False):
    """Logits, or ``(logits, aux_logits)`` when the model has an aux head.

    The auxiliary head always uses batch statistics (it only matters while
    training; the official one ran in training mode only).
    """
    stem = self.stem(images, training=training)
    inputs = [stem, stem]
    aux = None
    for layer, cell in enumerate(self.cells):
      out = cell(inputs, progress=self.progress, training=training)
      inputs = [inputs[1], out]
      if layer == self.aux_index:
        aux = self.aux_head(out)
    x = image_ops.global_avg_pool(tf.nn.relu(inputs[1]))
    if training and self.keep_prob < 1.0:
      x = tf.nn.dropout(x, rate=1.0 - self.keep_prob)
    logits = tf.matmul(x, self.classifier)
    return logits if aux is None else (logits, aux)


def build_micro_final(arc: image_spaces.ArcLike, *, input_shape: Sequence[int],
                      num_classes: int, num_layers: int = 15,
                      out_filters: int = 36, keep_prob: float = 0.8,
                      aux_head: bool = True,
                      drop_path_keep_prob: float | None = 0.6,
                      name: str = "micro_final") -> MicroFinalModel:
  """Builds the final model of a micro architecture (ENAS §2.4, §3.2).

  Args:
    arc: an `Architecture` of a `micro_space`, its tokens or the official
      ``fixed_arc`` text (normal cell, then reduction cell).
    input_shape: ``(H, W, C)``.
    num_classes: classifier outputs.
    num_layers: N normal cells (N + 2 cells in all; 15 officially).
    out_filters: F of the first stage (36); doubles at each reduction.
    keep_prob: dropout keep probability before the classifier (0.8).
    aux_head: add the auxiliary head (needs a feature map of at least 5x5
      after the last reduction, e.g. 32x32 inputs).
    drop_path_keep_prob: base drop-path keep probability (0.6); None or 1.0
      disables drop path.
    name: Keras name.

  Returns:
    A built `MicroFinalModel`: ``model(images, training)`` gives logits, or
    ``(logits, aux_logits)`` with the auxiliary head.
  """
  return MicroFinalModel(image_spaces.decode_micro(arc),
                         input_shape=input_shape, num_classes=num_classes,
                         num_layers=num_layers, out_filters=out_filters,
                         keep_prob=keep_prob, aux_head=aux_head,
                         drop_path_keep_prob=drop_path_keep_prob, name=name)


def split_outputs(outputs) -> tuple[tf.Tensor, tf.Tensor | None]:
  """``(logits, aux_logits or None)`` from a final model's output."""
  if isinstance(outputs, (tuple, list)):
    return outputs[0], outputs[1]
  return outputs, None
