"""The ENAS micro supergraph: every normal/reduction cell pair in one model (§2.4).

Pham et al. 2018, §2.4; layout of the official shared model (melodyguan/enas
``micro_child.py``, search mode):

  stem:   conv3x3 (3F filters) -> BN;  the first cell's two inputs are the stem
  cells:  N + 2 cells; reduction cells at [N // 3, 2 (N // 3) + 1], each
          doubling the width; a reduction cell's inputs are (previous output,
          its factorized reduction), both then at the new width and
          resolution; every other cell reads the two previous cells' outputs
  cell:   calibrate both inputs to F channels and the same resolution
          (ReLU-1x1 conv-BN, or ReLU-factorized reduction for the larger one)
          node n = op_1(input index_1) + op_2(input index_2),  n = 2 .. B + 1
          output = BN(conv1x1(ReLU(concat of the loose ends)))
  head:   ReLU -> global average pool -> dropout(keep_prob) -> dense (no bias);
          auxiliary head after the last reduction cell (weight `aux_weight`)

All cell ops run at stride 1 (the reduction cell's downsampling is the
factorized reduction of its inputs, as in the official search). The loose
ends are the ids in 0 .. B + 1 that no node reads: like the official code,
unread cell inputs count too.

Weight sharing, as the official code: each of the N + 2 cell positions has
its own weights, and within a cell there is one weight set per (node, input
slot, input index, op) for the ops with weights (the two sep convs; pooling
and identity have none, the inputs being calibrated to F). A cell stores them
as one table per sep-conv op whose rows are the (node, slot, index) triples
(`SharedCell.weight_row`), each row holding every weight of its set
(`image_ops.SepConvTable`): one gather per slot and op, so the compiled step
stays small and traces fast.

One compiled step for all children: the architecture is an int32 tensor
input. A cell's B nodes run as one ``tf.while_loop`` whose body is node n
(`SharedCell._run_nodes`): the graph holds one node's ops per cell instead of
B copies, so the step traces, compiles and sits in memory five times smaller.
A cell's ids live in an `id_table.IdTable` (a write-once TensorList, the
loop's variable) and each input slot reads its id from it: no copies
(stacking the nodes for a gather would copy all of them), and the backward
pass adds each read's gradient to that id only (a ``tf.switch_case`` over the
ids would make a zero gradient for every unread id at every read). Then
``tf.switch_case`` over the branches of the op table (`enas.micro.ops`) runs
only the chosen op, whose weight row is gathered outside the switch; only
that row gets a gradient. A sep conv keeps no
activations for the backward pass, which recomputes it
(`image_ops.recompute_gradient`; the standalone child does the same, so
timing ratios compare like with like). The output conv reads the loose ends
gathered from the table (their number is known only at run time) and their
gathered kernel rows, as the official code: read ids and their kernel rows
get no gradient. With a fixed (Python) architecture the nodes are built
in Python and the loose ends concatenated directly, as a standalone model
would.

Differences from the official code, on purpose: only the chosen op runs (the
official code computed all five and indexed the result); gradient clipping
really clips; the auxiliary head is trained (the official one was left out of
the optimizer's variables). Batch norm uses batch statistics everywhere
(official and intended for shared weights). Drop-path is not applied during
the search, as in the official search graph.
"""

from __future__ import annotations

from typing import Any, Sequence

import gin
import keras
import tensorflow as tf

from controller.search_space import SearchSpace
from enas.image import distribute
from enas.image import ops as image_ops
from enas.micro import id_table
from enas.micro import ops as micro_ops
from enas.micro import space as space_lib


class SharedCell(keras.layers.Layer):
  """One cell position of the micro supergraph, serving every cell."""

  def __init__(self, input_shapes: Sequence[Sequence[int]], filters: int,
               num_nodes: int, num_ops: int, **kwargs):
    """Builds the calibration, the per-(node, slot, op) tables and the output.

    Args:
      input_shapes: ``(H, W, C)`` of the two inputs; the second sets the
        cell's resolution.
      filters: F, the width of every node and of the output.
      num_nodes: B.
      num_ops: ops 0 .. num_ops - 1 of the op table `micro_ops.OPS`.
    """
    super().__init__(**kwargs)
    (h0, _, c0), (h1, _, c1) = input_shapes
    self.filters = filters
    self.num_nodes = num_nodes
    self.num_ops = num_ops
    self.ops = micro_ops.OPS[:num_ops]
    calibrate = [None, None]
    if h0 != h1:
      if (h0 + 1) // 2 != h1:  # stride 2, SAME: odd sizes round up
        raise ValueError(f"cell inputs of sizes {h0} and {h1}")
      calibrate[0] = image_ops.FactorizedReduction(
          c0, filters, relu_before=True, moving_stats=False, name="calib_0")
    elif c0 != filters:
      calibrate[0] = image_ops.ConvBN(
          c0, filters, 1, relu_before=True, moving_stats=False, name="calib_0")
    if c1 != filters:
      calibrate[1] = image_ops.ConvBN(
          c1, filters, 1, relu_before=True, moving_stats=False, name="calib_1")
    self.calibrate = calibrate
    # One table per op with weights; row weight_row(n, slot, source) is the
    # weight set of node n + 2's input slot `slot` reading id `source`.
    self._row_base = []
    rows = 0
    for n in range(num_nodes):
      self._row_base.append((rows, rows + n + 2))
      rows += 2 * (n + 2)
    self.num_weight_sets = rows
    tables = [op.shared_weights(filters, rows) for op in self.ops]
    self._op_tables = tuple(tables)
    self.convs = [t for t in tables if t is not None]
    ids = num_nodes + 2
    self.out_kernel = self.add_weight(
        shape=(ids * filters, filters), initializer=image_ops.he_normal(filters),
        name="out_kernel")
    self.out_bn = image_ops.BatchNorm(filters, moving_stats=False,
                                      name="out_bn")
    self.built = True

  def weight_row(self, node: int, slot: int, source: Any) -> Any:
    """Table row of (node index in 0 .. B - 1, input slot 0/1, input id)."""
    return self._row_base[node][slot] + source

  def _op(self, op: Any, x, row):
    # Each op's branch gathers its weight row outside the switch: cheaper to
    # trace and to differentiate; an unchosen conv's rows get a zero gradient.
    branches = [spec.shared_branch(x, table, row)
                for spec, table in zip(self.ops, self._op_tables)]
    return image_ops.select(op, branches)

  def call(self, inputs, cell_arc):
    """Output of the cell described by `cell_arc`.

    Args:
      inputs: the two input tensors.
      cell_arc: per node ``(index_1, op_1, index_2, op_2)``, scalar int32
        tensors (switch graph) or Python ints (fixed cell).
    """
    nodes = [x if cal is None else cal(x, training=True)
             for x, cal in zip(inputs, self.calibrate)]
    if not isinstance(cell_arc[0][0], tf.Tensor):
      for n, spec in enumerate(cell_arc):
        terms = [self._op(op, nodes[source], self.weight_row(n, slot, source))
                 for slot, (source, op) in enumerate((spec[0:2], spec[2:4]))]
        nodes.append(terms[0] + terms[1])
      return self._output(nodes, None, cell_arc)
    table = id_table.IdTable(self.num_nodes + 2, nodes[0].shape)
    table.write(0, nodes[0])
    table.write(1, nodes[1])
    return self._output(None, self._run_nodes(table, cell_arc), cell_arc)

  def _run_nodes(self, table, cell_arc):
    """Writes every node of the switch graph to `table`: one loop body.

    The B nodes run in a ``tf.while_loop`` whose body is node n: the graph
    holds one node's ops (two op switches) instead of B copies, which makes
    the compiled step five times smaller to trace, optimise and hold in
    memory; node n reads its table rows and architecture entries by n.
    Under several replicas (`enas.image.distribute`) the loop is unrolled:
    the synchronised batch norm's collectives do not run inside it.
    """
    spec = tf.stack([tf.stack(node) for node in cell_arc])  # [B, 4]
    row_base = tf.constant(self._row_base, tf.int32)  # [B, 2]

    def body(n, handle):
      nodes = table.view(handle)
      terms = []
      for slot in range(2):
        source, op = spec[n, 2 * slot], spec[n, 2 * slot + 1]
        terms.append(self._op(op, nodes.read(source),
                              row_base[n, slot] + source))
      nodes.write(n + 2, terms[0] + terms[1])
      return n + 1, nodes.handle

    if distribute.unroll_loops():  # several devices: no collectives in loops
      handle = table.handle
      for n in range(self.num_nodes):
        _, handle = body(tf.constant(n), handle)
      return table.view(handle)
    _, handle = tf.while_loop(
        lambda n, _: n < self.num_nodes, body,
        (tf.constant(0), table.handle), maximum_iterations=self.num_nodes)
    return table.view(handle)

  def _output(self, nodes, table, cell_arc):
    f, ids = self.filters, self.num_nodes + 2
    read = [s for spec in cell_arc for s in (spec[0], spec[2])]
    if table is None:
      loose = [i for i in range(ids) if i not in read]
      x = tf.concat([nodes[i] for i in loose], axis=-1)
      kernel = tf.concat([self.out_kernel[i * f:(i + 1) * f] for i in loose],
                         axis=0)
    else:
      reads = tf.reduce_sum(tf.one_hot(tf.stack(read), ids), axis=0)
      loose = tf.cast(tf.where(tf.equal(reads, 0.0))[:, 0], tf.int32)
      ends = table.gather(loose)  # [L, batch, H, W, F]
      batch, h, w = tf.unstack(tf.shape(ends)[1:4])
      x = tf.reshape(tf.transpose(ends, [1, 2, 3, 0, 4]), [batch, h, w, -1])
      kernel = tf.reshape(
          tf.gather(tf.reshape(self.out_kernel, [ids, f, f]), loose), [-1, f])
    x = tf.nn.conv2d(tf.nn.relu(x), kernel[None, None], 1, "SAME")
    return self.out_bn(x, training=True)


@gin.configurable
class MicroSupergraph(image_ops.SharedWeightModel):
  """Shared weights of a `micro_space` and its compiled train/eval steps.

  Attributes:
    stem: conv3x3 to 3F, BN.
    cells: the N + 2 `SharedCell`s.
    cell_reductions: the factorized reduction feeding each reduction cell.
    aux_head: `image_ops.AuxHead` or None.
    classifier: ``[final width, num_classes]`` dense weights.
  """

  def __init__(self, space: SearchSpace, *,
               input_shape: Sequence[int] = (32, 32, 3),
               num_classes: int = 10, num_layers: int = 6,
               out_filters: int = 20, keep_prob: float = 0.9,
               l2_reg: float = 1e-4, aux_weight: float = 0.4,
               grad_bound: float = 5.0, momentum: float = 0.9,
               name: str = "micro_supergraph"):
    """Builds every weight and the compiled steps.

    Args:
      space: a `micro_space` (nodes and ops come from it).
      input_shape: ``(H, W, C)``.
      num_classes: classifier outputs.
      num_layers: N, normal cells (N + 2 cells with the two reductions).
      out_filters: F of the first cells (doubled at each reduction).
      keep_prob: dropout keep probability before the classifier.
      l2_reg: weight decay on all weights.
      aux_weight: weight of the auxiliary head's loss (0 = no head); the
        head needs a feature map of at least 5x5 after the last reduction.
      grad_bound: global-norm clip (0 = none).
      momentum: Nesterov momentum.
      name: Keras name.
    """
    if space.name != space_lib.MICRO_SPACE_NAME:
      raise ValueError(f"not a micro space: {space.name}")
    super().__init__(space, input_shape=input_shape, num_classes=num_classes,
                     keep_prob=keep_prob, l2_reg=l2_reg, grad_bound=grad_bound,
                     momentum=momentum, aux_weight=aux_weight, name=name)
    self.num_layers = num_layers
    self.out_filters = out_filters
    self.num_nodes = int(space.meta("num_nodes"))
    self.num_ops = int(space.meta("num_ops"))
    self.reduction_cells = space_lib.micro_reduction_cells(num_layers)
    self.aux_index = self.reduction_cells[-1] + 1 if aux_weight else None
    self._positions = space_lib.micro_token_positions(space)
    h, _, c = self.image_shape
    f = out_filters
    self.stem = image_ops.ConvBN(c, 3 * f, 3, moving_stats=False, name="stem")
    shapes = [(h, h, 3 * f), (h, h, 3 * f)]
    self.cells, self.cell_reductions, self.aux_head = [], [], None
    for layer in range(num_layers + 2):
      if layer in self.reduction_cells:
        f *= 2
        self.cell_reductions.append(image_ops.FactorizedReduction(
            shapes[1][2], f, moving_stats=False, name=f"cell_{layer}_reduce"))
        shapes = [shapes[1], ((shapes[1][0] + 1) // 2,) * 2 + (f,)]
      self.cells.append(SharedCell(shapes, f, self.num_nodes, self.num_ops,
                                   name=f"cell_{layer}"))
      shapes = [shapes[1], (shapes[1][0], shapes[1][1], f)]
      if layer == self.aux_index:
        self.aux_head = image_ops.AuxHead(f, shapes[1][0], num_classes,
                                          name="aux_head")
    self.classifier = self.add_weight(
        shape=(f, num_classes), initializer=image_ops.he_normal(f),
        name="classifier")
    self.built = True
    self._compile_steps()

  def _cell_arc(self, arc, cell: str):
    return [tuple(arc[p] for p in node) for node in self._positions[cell]]

  def _forward(self, images, arc: Any, training: bool):
    """(logits, auxiliary logits or None) of child `arc` (tensor or ints)."""
    normal = self._cell_arc(arc, "normal")
    reduction = self._cell_arc(arc, "reduction")
    stem = self.stem(images, training=True)
    inputs = [stem, stem]
    aux = None
    for layer, cell in enumerate(self.cells):
      if layer in self.reduction_cells:
        reduce = self.cell_reductions[self.reduction_cells.index(layer)]
        inputs = [inputs[1], reduce(inputs[1], training=True)]
        out = cell(inputs, cell_arc=reduction)
      else:
        out = cell(inputs, cell_arc=normal)
      inputs = [inputs[1], out]
      if layer == self.aux_index and training:
        aux = self.aux_head(out)
    return self._classify(tf.nn.relu(inputs[1]), training), aux
