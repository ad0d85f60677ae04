"""Specification of the micro op table (Pham et al. 2018 §2.4): one row per op."""

import pytest
import tensorflow as tf

from enas.image import ops as image_ops
from enas.micro import ops as micro_ops
from enas.micro import space as spaces


def test_the_op_table_gives_the_ops_their_official_ids_and_names():
  assert [(op.id, op.name) for op in micro_ops.OPS] == [
      (0, "sep_conv3x3"), (1, "sep_conv5x5"), (2, "avg_pool3x3"),
      (3, "max_pool3x3"), (4, "identity")]
  assert spaces.MICRO_OPS == micro_ops.NAMES
  op_1 = spaces.micro_space(1).decisions[4]
  assert op_1.name == "normal/node_2/op_1"
  assert op_1.choices == micro_ops.NAMES
  for op in micro_ops.OPS:
    cell = spaces.decode_micro(f"0 {op.id} 1 {op.id} " * 2).normal
    assert cell.nodes[0].op_1 == cell.nodes[0].op_2 == op.id
    assert cell.describe()[0] == f"node 2 = {op.name}(0) + {op.name}(1)"


def test_only_the_sep_convs_hold_shared_weights_one_table_row_per_set():
  x = tf.ones([2, 8, 8, 4])
  for op in micro_ops.OPS:
    table = op.shared_weights(4, num_weight_sets=3)
    assert (table is not None) == op.name.startswith("sep_conv")
    if table is not None:
      assert isinstance(table, image_ops.SepConvTable)
      assert table.table.shape[0] == 3
    assert op.shared_branch(x, table, 1)().shape == x.shape


def test_at_stride_2_every_fixed_op_halves_the_input():
  x = tf.ones([2, 8, 8, 4])
  for op in micro_ops.OPS:
    for stride, size in ((1, 8), (2, 4)):
      layer = op.fixed_layer(4, stride, name=f"op_{op.id}")
      assert (layer is None) == (
          op.name.endswith("pool3x3") or (op.name == "identity" and stride == 1))
      y = op.fixed_branch(x, layer, stride, training=False)
      assert y.shape == (2, size, size, 4)


def test_drop_path_applies_to_every_op_but_identity():
  assert [op.drop_path for op in micro_ops.OPS] == [True] * 4 + [False]


def test_an_unknown_id_is_rejected():
  with pytest.raises(ValueError, match="unknown micro op 5"):
    micro_ops.get(5)
