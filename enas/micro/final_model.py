"""The ENAS micro final model: a fixed cell pair retrained (§2.4, §3.2).

Pham et al. 2018, §3.2 ("we retrain from scratch" the derived architecture),
with the layout of the official fixed-architecture child (melodyguan/enas
4bcfd73, ``src/cifar10/micro_child.py``, ``_fixed_layer`` with
``fixed_arc``). Unlike the supergraph, a plain Keras model holding ONLY the
chosen ops, with moving-average batch norm for inference.

`build_micro_final`, for N normal cells (15 in the official run) and F
filters:

  stem:    conv3x3 (3F) -> BN; the first cell's two inputs are the stem
  cells:   N + 2 cells, reduction cells at
           `enas.micro.space.micro_reduction_cells` ([5, 11] for 15), each
           doubling the node width F_c; cell c reads the outputs of cells
           c - 2 and c - 1
  cell:    calibrate both inputs to F_c channels and the second input's
           resolution (official ``_maybe_calibrate_size``: input 0 by a
           ReLU-factorized reduction when it is twice as large, else by
           ReLU-conv1x1-BN when its width is not F_c; input 1 by
           ReLU-conv1x1-BN when its width is not F_c);
           ``cell_output='concat'`` (official, the default): then
           ReLU-conv1x1-BN on the calibrated input 1 (``layer_base``);
           node n = op_1(input index_1) + op_2(input index_2), the ops
           being the fixed layers of the op table `enas.micro.ops`; in a
           reduction cell the ops reading the cell inputs 0 and 1 have
           stride 2 (identity becomes a factorized reduction);
           loose ends at the cell's input resolution are factorized-reduced
           (official ``_fixed_combine``), then
           'concat':  output = concat of the loose ends, k F_c channels;
           'conv1x1': output = BN(conv1x1(ReLU(concat))) to F_c, and no
                      ``layer_base`` (it would be a second 1x1 conv in a
                      row); the cell ends as the search cell of §2.4
  drop path on every sep-conv and pool branch while training, keep
           probability ``1 - (layer + 1) / (N + 2) * (1 - p)``, itself moved
           from 1 towards that value by the training progress (`DropPath`)
  head:    ReLU -> global average pool -> dropout(keep_prob) -> dense (no
           bias); auxiliary head after the cell following the last reduction
           (official ``aux_head_indices``), trained (official bug 6 left its
           weights out of the optimizer).

Parameter count of the official final arc (`space_lib.PAPER_MICRO_ARC`) at
N = 15, F = 36 on 32x32x3 inputs, 10 classes: 4,389,220 with the auxiliary
head, 3,894,372 without (494,848 in the head), exactly the variables the
official code creates (its own printed count, ``num_vars``, leaves the head
out: 3,894,372). The paper's Table 2 says 4.6M. What arithmetic supports:
the batch norms' moving means and variances add 44,928 (4,434,148 in all,
4.43M), and no rounding of 4.39M or 4.43M gives 4.6M; the 'conv1x1' layout
has fewer (3,611,980; 3,190,860 without the head). The remaining ~0.17M
(about 4%) we cannot explain from the code at 4bcfd73 and the arc of its
final script.

All convolutions have no bias (BN follows), He-normal initialisation, NHWC.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from enas.image import final_common
from enas.image import ops as image_ops
from enas.image import spaces as image_spaces
from enas.micro import ops as micro_ops
from enas.micro import space as space_lib


CELL_OUTPUTS = ("concat", "conv1x1")
"""Cell output layouts: official bare concatenation, or ReLU-conv1x1-BN."""


def _parse_cell(text: str) -> space_lib.MicroCell:
  """A cell from its `MicroCell.to_string` text."""
  tokens = [int(t) for t in text.split()]
  return space_lib.MicroCell(tuple(space_lib.MicroNode(*tokens[i:i + 4])
                                   for i in range(0, len(tokens), 4)))


@keras.saving.register_keras_serializable(package="rlnas")
class FinalCell(keras.layers.Layer):
  """One fixed micro cell of the final model (§2.4; see the module doc).

  Attributes:
    calibrate_0: the layer bringing input 0 to F_c channels and input 1's
      resolution, or None when it already has both.
    calibrate_1: the layer bringing input 1 to F_c channels, or None.
    base: the official ``layer_base`` ReLU-conv1x1-BN on the calibrated
      input 1 (``cell_output='concat'``), or None.
    out: the output ReLU-conv1x1-BN (``cell_output='conv1x1'``), or None.
    output_size: the output height (= width).
    output_channels: ``k F_c`` for k loose ends (concat), or F_c (conv1x1).
  """

  def __init__(self, cell: space_lib.MicroCell | str,
               input_shapes: Sequence[tuple[int, int]], filters: int, *,
               reduction: bool, drop_path: final_common.DropPath | dict | None,
               cell_output: str = "concat", **kwargs):
    """Builds the calibration, the chosen ops and the output.

    Args:
      cell: the decoded cell, or its `MicroCell.to_string` text (from
        `get_config`).
      input_shapes: ``(size, channels)`` of the two inputs.
      filters: F_c, the width of every node.
      reduction: ops on the cell inputs have stride 2.
      drop_path: applied to sep-conv and pool branches while training (a
        `DropPath`, its serialized config, or None).
      cell_output: 'concat' (official, with ``layer_base``) or 'conv1x1'.

    Raises:
      ValueError: an unknown `cell_output`, or inputs of incompatible sizes.
    """
    super().__init__(**kwargs)
    if cell_output not in CELL_OUTPUTS:
      raise ValueError(f"micro cell_output must be one of {CELL_OUTPUTS}, "
                       f"got {cell_output!r}")
    if isinstance(cell, str):
      cell = _parse_cell(cell)
    if isinstance(drop_path, dict):
      drop_path = keras.saving.deserialize_keras_object(drop_path)
    self.input_shapes = [[int(d) for d in shape] for shape in input_shapes]
    self.filters = filters
    (h0, c0), (h1, c1) = input_shapes
    f = filters
    self.cell = cell
    self.reduction = reduction
    self.drop_path = drop_path
    self.cell_output = cell_output
    # One attribute per layer: Keras 3 tracks a layer assigned to an
    # attribute, not one stored into a list by index.
    self.calibrate_0 = None
    self.calibrate_1 = None
    if h0 != h1:
      if (h0 + 1) // 2 != h1:  # stride 2, SAME: odd sizes round up
        raise ValueError(f"cell inputs of sizes {h0} and {h1}")
      self.calibrate_0 = image_ops.FactorizedReduction(
          c0, f, relu_before=True, name="calib_0")
    elif c0 != f:
      self.calibrate_0 = image_ops.ConvBN(c0, f, 1, relu_before=True,
                                          name="calib_0")
    if c1 != f:
      self.calibrate_1 = image_ops.ConvBN(c1, f, 1, relu_before=True,
                                          name="calib_1")
    self.base = None
    if cell_output == "concat":
      self.base = image_ops.ConvBN(f, f, 1, relu_before=True, name="base")
    self.branches = []
    for n, node in enumerate(cell.nodes):
      for slot, (source, op) in enumerate(((node.index_1, node.op_1),
                                           (node.index_2, node.op_2))):
        stride = 2 if reduction and source < 2 else 1
        name = f"node_{n + 2}_{slot}"
        spec = micro_ops.get(op)
        layer = spec.fixed_layer(f, stride, name=name)
        self.branches.append((source, spec, stride, layer))
    self._branch_layers = [b[3] for b in self.branches if b[3] is not None]
    self.loose_ends = cell.loose_ends
    self.loose_reductions = {
        i: image_ops.FactorizedReduction(f, f, name=f"loose_{i}_reduce")
        for i in self.loose_ends if reduction and i < 2}
    self._loose_list = list(self.loose_reductions.values())
    self.out = None
    self.output_channels = len(self.loose_ends) * f
    if cell_output == "conv1x1":
      self.out = image_ops.ConvBN(len(self.loose_ends) * f, f, 1,
                                  relu_before=True, name="out_conv")
      self.output_channels = f
    self.output_size = (h1 + 1) // 2 if reduction else h1
    self.built = True

  def get_config(self):
    drop_path = self.drop_path
    return {**super().get_config(), "cell": self.cell.to_string(),
            "input_shapes": self.input_shapes, "filters": self.filters,
            "reduction": self.reduction, "cell_output": self.cell_output,
            "drop_path": (None if drop_path is None else
                          keras.saving.serialize_keras_object(drop_path))}

  def _branch(self, x, spec, stride, layer, progress, training):
    x = spec.fixed_branch(x, layer, stride, training)
    if spec.drop_path and self.drop_path is not None:
      x = self.drop_path(x, progress=progress, training=training)
    return x

  def loose_end_outputs(self, inputs, progress=0.0, training=False):
    """The loose ends, each F_c wide at the output resolution, in order."""
    nodes = [x if cal is None else cal(x, training=training)
             for x, cal in zip(inputs, (self.calibrate_0, self.calibrate_1))]
    if self.base is not None:
      nodes[1] = self.base(nodes[1], training=training)
    for n in range(len(self.cell.nodes)):
      terms = [self._branch(nodes[source], spec, stride, layer, progress,
                            training)
               for source, spec, stride, layer
               in self.branches[2 * n:2 * n + 2]]
      nodes.append(terms[0] + terms[1])
    return [self.loose_reductions[i](nodes[i], training=training)
            if i in self.loose_reductions else nodes[i]
            for i in self.loose_ends]

  def call(self, inputs, progress=0.0, training=False):
    """The cell output from its two inputs, at training `progress`."""
    out = tf.concat(self.loose_end_outputs(inputs, progress, training),
                    axis=-1)
    return out if self.out is None else self.out(out, training=training)


@keras.saving.register_keras_serializable(package="rlnas")
class MicroFinalModel(keras.Model):
  """A fixed micro architecture (see the module docstring).

  Attributes:
    arc: the decoded `space_lib.MicroArc`.
    reduction_cells: positions of the reduction cells among the N + 2.
    cell_filters: F_c of each cell (F, doubled at each reduction).
    cell_widths: output channels of each cell (k F_c for k loose ends under
      ``cell_output='concat'``, F_c under 'conv1x1').
    cell_sizes: output height (= width) of each cell.
    aux_head: the `image_ops.AuxHead` or None.
    aux_index: the cell the auxiliary head reads, or None.
    progress: non-trainable scalar in [0, 1] scheduling drop path; the
      trainer assigns ``(step + 1) / total_steps``.
  """

  def __init__(self, arc: space_lib.MicroArc, *,
               input_shape: Sequence[int], num_classes: int,
               num_layers: int = 15, out_filters: int = 36,
               keep_prob: float = 0.8, aux_head: bool = True,
               drop_path_keep_prob: float | None = 0.6,
               cell_output: str = "concat",
               name: str = "micro_final"):
    super().__init__(name=name)
    # A Keras seed generator: its state is one of the model's variables, so
    # a per-epoch checkpoint resumes the dropout stream exactly.
    self.dropout_seeds = keras.random.SeedGenerator()
    self.cell_output = cell_output
    self.arc = arc
    self.num_classes = num_classes
    self.out_filters = out_filters
    self.drop_path_keep_prob = drop_path_keep_prob
    self.image_shape = tuple(int(d) for d in input_shape)
    self.keep_prob = keep_prob
    self.num_layers = num_layers
    self.reduction_cells = space_lib.micro_reduction_cells(num_layers)
    self.aux_index = self.reduction_cells[-1] + 1 if aux_head else None
    self.progress = self.add_weight(shape=(), initializer="zeros",
                                    trainable=False, name="progress")
    h, _, c = self.image_shape
    f = out_filters
    num_cells = num_layers + 2
    self.stem = image_ops.ConvBN(c, 3 * f, 3, name="stem")
    shapes = [(h, 3 * f), (h, 3 * f)]
    self.cells, self.cell_filters = [], []
    self.cell_widths, self.cell_sizes = [], []
    self.aux_head = None
    for layer in range(num_cells):
      reduction = layer in self.reduction_cells
      if reduction:
        f *= 2
      drop_path = None
      if drop_path_keep_prob is not None and drop_path_keep_prob < 1.0:
        drop_path = final_common.DropPath(drop_path_keep_prob, layer, num_cells,
                             name=f"cell_{layer}_drop_path")
      cell = FinalCell(arc.reduction if reduction else arc.normal, shapes, f,
                       reduction=reduction, drop_path=drop_path,
                       cell_output=cell_output, name=f"cell_{layer}")
      self.cells.append(cell)
      self.cell_filters.append(f)
      self.cell_widths.append(cell.output_channels)
      self.cell_sizes.append(cell.output_size)
      shapes = [shapes[1], (cell.output_size, cell.output_channels)]
      if layer == self.aux_index:
        self.aux_head = image_ops.AuxHead(cell.output_channels,
                                          cell.output_size, num_classes,
                                          name="aux_head")
    width = self.cell_widths[-1]
    self.classifier = self.add_weight(
        shape=(width, num_classes), initializer=image_ops.he_normal(width),
        name="classifier")
    self.built = True

  def get_config(self):
    """The constructor's arguments, the architecture as its official text."""
    return {"arc": self.arc.to_string(), "input_shape": list(self.image_shape),
            "num_classes": self.num_classes, "num_layers": self.num_layers,
            "out_filters": self.out_filters, "keep_prob": self.keep_prob,
            "aux_head": self.aux_index is not None,
            "drop_path_keep_prob": self.drop_path_keep_prob,
            "cell_output": self.cell_output, "name": self.name}

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    return cls(space_lib.decode_micro(config.pop("arc")), **config)

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
      x = keras.random.dropout(x, rate=1.0 - self.keep_prob,
                               seed=self.dropout_seeds)
    logits = tf.matmul(x, self.classifier)
    return logits if aux is None else (logits, aux)


def build_micro_final(arc: image_spaces.ArcLike, *, input_shape: Sequence[int],
                      num_classes: int, num_layers: int = 15,
                      out_filters: int = 36, keep_prob: float = 0.8,
                      aux_head: bool = True,
                      drop_path_keep_prob: float | None = 0.6,
                      cell_output: str = "concat",
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
    cell_output: 'concat': the official layout (a ``layer_base``
      ReLU-conv1x1-BN on the calibrated second input, the cell output the
      bare concatenation of the loose ends); 'conv1x1': no ``layer_base``,
      the concatenation projected back to F_c by ReLU-conv1x1-BN.
    name: Keras name.

  Returns:
    A built `MicroFinalModel`: ``model(images, training)`` gives logits, or
    ``(logits, aux_logits)`` with the auxiliary head.
  """
  return MicroFinalModel(space_lib.decode_micro(arc),
                         input_shape=input_shape, num_classes=num_classes,
                         num_layers=num_layers, out_filters=out_filters,
                         keep_prob=keep_prob, aux_head=aux_head,
                         drop_path_keep_prob=drop_path_keep_prob,
                         cell_output=cell_output, name=name)
