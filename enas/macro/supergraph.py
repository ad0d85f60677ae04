"""The ENAS macro supergraph: every macro child in one set of weights (§2.3).

Pham et al. 2018, §2.3; layout of the official shared model (melodyguan/enas
``general_child.py``, ``whole_channels`` mode):

  stem:     conv3x3 (F filters) -> BN                          = node 0
  layer i:  out = op_i(node i)          (op i's weights: one set per (i, op))
            out = BN(out + sum_{j: skip bit j} node j)         (if i > 0)
                                                               = node i + 1
  after layers pool_distance - 1 and 2 pool_distance - 1: every node so far
            is replaced by its factorized reduction (stride 2, F filters;
            one reduction per (pool, node))
  head:     global average pool -> dropout(keep_prob) -> dense (no bias)

Node j is the stem (j = 0) or layer j - 1, as in `enas.macro.space`. In the
shared model the skips are SUMMED with the op output and the width stays F
(the final model concatenates and doubles the width at each reduction).

One compiled step for all children: the architecture is an int32 tensor input;
the op is chosen with ``tf.switch_case`` over the shared branches of the op
table `enas.macro.ops` (only the chosen op runs, and only its weights get
gradients), the skips with 0/1 masks from the skip bits.
Differences from the official code, on purpose: the official ``tf.case``
closures all returned the last op (max pool), so during the official macro
search the op choice never reached the forward pass (and every op was
computed); its gradient clipping was a no-op. Batch norm runs with batch
statistics in training and evaluation (official micro search, intended for
shared weights; the official macro reward used moving averages).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import gin
import tensorflow as tf

from controller.search_space import SearchSpace
from enas.image import ops as image_ops
from enas.macro import ops as macro_ops
from enas.macro import space as space_lib


@gin.configurable
class MacroSupergraph(image_ops.SharedWeightModel):
  """Shared weights of a `macro_space` and its compiled train/eval steps.

  Attributes:
    stem: the stem conv-BN.
    ops: ``ops[i][o]``, layer i's branch of op o (`macro_ops.OPS[o]`).
    skip_bns: ``skip_bns[i - 1]``, the batch norm after layer i's skip sum.
    reductions: ``reductions[k][j]``, node j's reduction at pool k.
    classifier: ``[F, num_classes]`` dense weights.
  """

  def __init__(self, space: SearchSpace, *,
               input_shape: Sequence[int] = (32, 32, 3),
               num_classes: int = 10, out_filters: int = 36,
               keep_prob: float = 0.9, l2_reg: float = 2.5e-4,
               grad_bound: float = 5.0, momentum: float = 0.9,
               name: str = "macro_supergraph"):
    """Builds every weight and the compiled steps.

    Args:
      space: a `macro_space` (layers and ops come from it).
      input_shape: ``(H, W, C)`` of the images.
      num_classes: classifier outputs.
      out_filters: F, the width of every layer (official search: 36).
      keep_prob: dropout keep probability before the classifier.
      l2_reg: weight decay on all weights.
      grad_bound: global-norm clip (0 = none).
      momentum: Nesterov momentum.
      name: Keras name.
    """
    if space.name != space_lib.MACRO_SPACE_NAME:
      raise ValueError(f"not a macro space: {space.name}")
    super().__init__(space, input_shape=input_shape, num_classes=num_classes,
                     keep_prob=keep_prob, l2_reg=l2_reg, grad_bound=grad_bound,
                     momentum=momentum, name=name)
    self.num_layers = int(space.meta("num_layers"))
    self.num_ops = int(space.meta("num_ops"))
    self.pool_layers = tuple(space.meta("pool_layers"))
    self.out_filters = out_filters
    self._positions = space_lib.macro_token_positions(space)
    f = out_filters
    self.stem = image_ops.ConvBN(self.image_shape[-1], f, 3,
                                 moving_stats=False, name="stem")
    self.ops = [[op.shared(f, f, name=f"layer_{i}_op_{op.id}")
                 for op in macro_ops.OPS[:self.num_ops]]
                for i in range(self.num_layers)]
    self.skip_bns = [image_ops.BatchNorm(f, moving_stats=False,
                                         name=f"layer_{i}_skip_bn")
                     for i in range(1, self.num_layers)]
    self.reductions = [[image_ops.FactorizedReduction(
        f, f, moving_stats=False, name=f"pool_{p}_from_{j}")
                        for j in range(p + 2)] for p in self.pool_layers]
    self.classifier = self.add_weight(
        shape=(f, num_classes), initializer=image_ops.he_normal(f),
        name="classifier")
    self.built = True
    self._compile_steps()

  def _forward(self, images, arc: Any, training: bool):
    """Logits (and no auxiliary logits) of child `arc` (tensor or ints)."""
    static = not isinstance(arc, tf.Tensor)
    nodes = [self.stem(images, training=True)]
    for i in range(self.num_layers):
      op_at, skip_at = self._positions[i]
      layer_input = nodes[-1]
      out = image_ops.select(
          arc[op_at],
          [functools.partial(op, layer_input, training=True)
           for op in self.ops[i]])
      if i > 0:
        if static:
          terms = [out] + [nodes[j] for j in range(i) if arc[skip_at + j]]
        else:
          bits = tf.cast(arc[skip_at:skip_at + i], out.dtype)
          terms = [out] + [bits[j] * nodes[j] for j in range(i)]
        out = self.skip_bns[i - 1](tf.add_n(terms), training=True)
      nodes.append(out)
      if i in self.pool_layers:
        reductions = self.reductions[self.pool_layers.index(i)]
        nodes = [r(node, training=True) for r, node in zip(reductions, nodes)]
    return self._classify(nodes[-1], training), None
