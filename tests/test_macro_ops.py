"""Specification of the macro op table (Pham et al. 2018 §2.3): one row per op."""

import pytest
import tensorflow as tf

from enas.image import ops as image_ops
from enas.macro import ops as macro_ops
from enas.macro import space as spaces


def test_the_op_table_gives_the_ops_their_official_ids_and_names():
  assert [(op.id, op.name) for op in macro_ops.OPS] == [
      (0, "conv3x3"), (1, "sep_conv3x3"), (2, "conv5x5"), (3, "sep_conv5x5"),
      (4, "avg_pool3x3"), (5, "max_pool3x3")]
  assert spaces.MACRO_OPS == macro_ops.NAMES
  assert spaces.macro_space(1).decisions[0].choices == macro_ops.NAMES
  for op in macro_ops.OPS:
    layer = spaces.decode_macro([op.id]).layers[0]
    assert layer.op == op.id and layer.op_name == op.name


def test_a_row_builds_the_shared_branch_and_the_fixed_layer_of_its_op():
  x = tf.ones([2, 8, 8, 4])
  for op in macro_ops.OPS:
    shared = op.shared(4, 6, name=f"shared_{op.id}")
    fixed = op.fixed(4, 6, name=f"fixed_{op.id}")
    kind = image_ops.PoolBranch if "pool" in op.name else image_ops.ConvBranch
    assert isinstance(shared, kind)
    assert fixed.op == op.id
    assert shared(x, training=True).shape == fixed(x).shape == (2, 8, 8, 6)
    # Batch statistics only in the supergraph; moving ones in final models.
    assert not any("moving" in w.path for w in shared.weights)
    assert any("moving" in w.path for w in fixed.weights)
    depthwise = [w for w in fixed.weights if "depthwise" in w.path]
    assert bool(depthwise) == op.name.startswith("sep")
    # The first kernel after the 1x1 is the op's kxk (depthwise if separable).
    kernels = [tuple(w.shape[:2]) for w in fixed.weights
               if "out_conv" in w.path]
    size = int(op.name[-1])
    assert kernels[:1] == ([(size, size)] if "conv" in op.name else [])


def test_an_unknown_id_is_rejected():
  with pytest.raises(ValueError, match="unknown macro op 6"):
    macro_ops.get(6)
