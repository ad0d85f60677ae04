"""Specification of the ENAS macro final model (§2.3, §3.2).

Small widths and images for speed, but the official architecture and layer
count (24 macro layers). The paper-size model is only built, to record its
parameter count.
"""

import numpy as np
import pytest
import tensorflow as tf

import final_model_checks as checks
from enas.image import final_common
from enas.macro import final_model as fm
from enas.macro import space as spaces


def test_official_macro_arc_trains_forward_and_backward():
  model = fm.build_macro_final(spaces.PAPER_MACRO_ARC, **checks.SMALL)
  assert len(model.ops) == 24
  loss, grads = checks.loss_and_grads(model, checks.images((16, 16, 3)),
                                tf.constant([1, 2]))
  assert np.isfinite(float(loss))
  assert all(g is not None for g in grads)


def test_macro_channels_double_at_each_pool_layer():
  model = fm.build_macro_final(spaces.PAPER_MACRO_ARC, **checks.SMALL)
  assert spaces.decode_macro(spaces.PAPER_MACRO_ARC).pool_layers == (7, 15)
  assert model.layer_widths == [8] * 8 + [16] * 8 + [32] * 8
  assert model.layer_sizes == [16] * 8 + [8] * 8 + [4] * 8


def test_macro_separable_ops_are_really_separable_and_pools_are_built():
  # Layer 0 sep_conv3x3, layer 1 max_pool, layer 2 avg_pool (official bug 3:
  # separable ops were ordinary convs and pools were never built).
  model = fm.build_macro_final("1 5 0 4 1 0", **checks.SMALL)
  shapes = checks.kernel_shapes(model)
  assert (3, 3, 8, 1) in shapes                 # depthwise 3x3
  full_kxk = [s for s in shapes if len(s) == 4 and s[0] > 1 and s[3] > 1]
  assert full_kxk == [(3, 3, 3, 8)]             # the stem only
  assert [op.op for op in model.ops] == [1, 5, 4]
  logits = model(checks.images((16, 16, 3)), training=False)
  assert logits.shape == (2, 10)


def test_macro_has_only_the_chosen_ops():
  # Three conv3x3 layers: no 5x5 kernel and no depthwise kernel.
  model = fm.build_macro_final("0 0 1 0 1 1", **checks.SMALL)
  shapes = checks.kernel_shapes(model)
  assert not any(s[:2] == (5, 5) for s in shapes)
  assert not any(len(s) == 4 and s[3] == 1 for s in shapes)


def test_the_layer_count_is_checked_when_asked_for():
  model = fm.build_macro_final(spaces.PAPER_MACRO_ARC, num_layers=24,
                               **checks.SMALL)
  assert len(model.ops) == 24
  with pytest.raises(ValueError, match="24 layers"):
    fm.build_macro_final(spaces.PAPER_MACRO_ARC, num_layers=12,
                         **checks.SMALL)


def test_paper_size_parameter_count(capsys):
  macro = fm.build_macro_final(spaces.PAPER_MACRO_ARC, input_shape=(32, 32, 3),
                               num_classes=10, out_filters=96)
  count = final_common.count_params(macro)
  with capsys.disabled():
    print(f"\nmacro parameter count (paper: 21.3M): {count}")
  assert 1e7 < count < 5e7
