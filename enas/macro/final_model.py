"""The ENAS macro final model: a fixed architecture retrained (§2.3, §3.2).

Pham et al. 2018, §3.2 ("we retrain from scratch" the derived architecture),
with the layout of the official fixed-architecture child (melodyguan/enas
``general_child.py`` with ``fixed_arc``). Unlike the supergraph, a plain
Keras model holding ONLY the chosen ops, with moving-average batch norm for
inference.

`build_macro_final`, for L layers (24 in the official run):

  stem:     conv3x3 (F) -> BN                                    = node 0
  layer i:  y = op_i(node i)                                     (F_i wide)
            if i > 0: y = BN(conv1x1(ReLU(concat(skipped nodes, y))))
                                                                 = node i + 1
  after each layer of `enas.macro.space.macro_pool_layers` ([7, 15] for 24):
            the width doubles and every node so far is replaced by its
            factorized reduction (stride 2) at the new width
  head:     global average pool -> dropout(keep_prob) -> dense (no bias)

  Ops: the fixed layers of the op table `enas.macro.ops`: ReLU-conv1x1-BN,
  then ReLU-(separable) kxk conv-BN for ops 0-3; ReLU-conv1x1-BN then a 3x3
  stride-1 pool for ops 4-5. Differences from the official fixed child, on
  purpose (official bugs 3 and 4): ops 1 and 3 are REAL separable convs (the
  official one built ordinary kxk convs), the pooling ops 4 and 5 are built
  (the official one left them undefined); like the official one, the macro
  model has no auxiliary head and no drop path.

All convolutions have no bias (BN follows), He-normal initialisation, NHWC.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from enas.image import ops as image_ops
from enas.image import spaces as image_spaces
from enas.macro import ops as macro_ops
from enas.macro import space as space_lib


@keras.saving.register_keras_serializable(package="rlnas")
class MacroFinalModel(keras.Model):
  """A fixed macro architecture (see the module docstring).

  Attributes:
    arc: the decoded `space_lib.MacroArc`.
    layer_widths: output channels of each layer (doubling after each pool
      layer).
    layer_sizes: output height (= width) of each layer.
    aux_head: always None (macro children have no auxiliary head).
  """

  def __init__(self, arc: space_lib.MacroArc, *,
               input_shape: Sequence[int], num_classes: int,
               out_filters: int = 96, keep_prob: float = 0.5,
               name: str = "macro_final"):
    super().__init__(name=name)
    # A Keras seed generator: its state is one of the model's variables, so
    # a per-epoch checkpoint resumes the dropout stream exactly.
    self.dropout_seeds = keras.random.SeedGenerator()
    self.arc = arc
    self.num_classes = num_classes
    self.out_filters = out_filters
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
      self.ops.append(macro_ops.get(layer.op).fixed(f, f,
                                                    name=f"layer_{i}_op"))
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

  def get_config(self):
    """The constructor's arguments, the architecture as its official text."""
    return {"arc": " ".join(str(t) for t in self.arc.to_tokens()),
            "input_shape": list(self.image_shape),
            "num_classes": self.num_classes, "out_filters": self.out_filters,
            "keep_prob": self.keep_prob, "name": self.name}

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    return cls(space_lib.decode_macro(config.pop("arc")), **config)

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
      x = keras.random.dropout(x, rate=1.0 - self.keep_prob,
                               seed=self.dropout_seeds)
    return tf.matmul(x, self.classifier)


def build_macro_final(arc: image_spaces.ArcLike, *, input_shape: Sequence[int],
                      num_classes: int, num_layers: int | None = None,
                      out_filters: int = 96, keep_prob: float = 0.5,
                      name: str = "macro_final") -> MacroFinalModel:
  """Builds the final model of a macro architecture (ENAS §2.3, §3.2).

  Args:
    arc: an `Architecture` of a `macro_space`, its tokens or the official
      text; the number of layers follows from its length (pool layers from
      `space_lib.macro_pool_layers`).
    input_shape: ``(H, W, C)``.
    num_classes: classifier outputs.
    num_layers: the layers `arc` must have (None: any).
    out_filters: F of the first stage (96 in the official final run); it
      doubles at each of the two reductions.
    keep_prob: dropout keep probability before the classifier (0.5).
    name: Keras name.

  Returns:
    A built `MacroFinalModel`: ``model(images, training) -> logits``.

  Raises:
    ValueError: `arc` does not have `num_layers` layers.
  """
  decoded = space_lib.decode_macro(arc)
  if num_layers is not None and num_layers != decoded.num_layers:
    raise ValueError(f"num_layers={num_layers} but the architecture has "
                     f"{decoded.num_layers} layers")
  return MacroFinalModel(decoded,
                         input_shape=input_shape, num_classes=num_classes,
                         out_filters=out_filters, keep_prob=keep_prob,
                         name=name)
