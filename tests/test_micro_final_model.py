"""Specification of the ENAS micro final model (§2.4, §3.2).

Small widths and images for speed, but the official architecture and cell
count (15 + 2 micro cells). The paper-size model is only built, to record its
parameter count.
"""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf

import final_model_checks as checks
from enas.image import final_common
from enas.image import final_training as ft
from enas.micro import family
from enas.micro import final_model as fm
from enas.micro import space as spaces

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Normal and reduction cells using only sep_conv3x3 (0), pools (2, 3) and
# identity (4): no 5x5 kernel anywhere.
MICRO_NO_SEP5 = ("0 0 1 2 0 3 1 4 2 0 3 0 1 4 2 2 4 0 0 3 "
                 "1 0 0 2 1 3 0 4 2 0 3 2 0 0 1 4 5 3 4 0")


def test_official_micro_arc_trains_forward_and_backward():
  model = fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=15,
                               aux_head=False, **checks.SMALL)
  assert len(model.cells) == 17
  assert model.reduction_cells == (5, 11)
  loss, grads = checks.loss_and_grads(model, checks.images((16, 16, 3)),
                                tf.constant([3, 4]))
  assert np.isfinite(float(loss))
  assert all(g is not None for g in grads)


def test_micro_channels_double_at_reduction_cells():
  model = fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=15,
                               aux_head=False, **checks.SMALL)
  assert model.cell_filters == [8] * 5 + [16] * 6 + [32] * 6
  assert model.cell_sizes == [16] * 5 + [8] * 6 + [4] * 6


def test_official_cell_output_is_the_bare_concatenation_of_its_loose_ends():
  # Official fixed cell (melodyguan/enas 4bcfd73, micro_child.py
  # _fixed_combine): no projection after the concatenation. The paper's
  # normal cell has 5 loose ends, its reduction cell 4 (input 1 among them).
  model = fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=3,
                               aux_head=False, **checks.SMALL)
  arc = model.arc
  assert len(arc.normal.loose_ends) == 5 and len(arc.reduction.loose_ends) == 4
  widths = [f * len((arc.reduction if c in model.reduction_cells
                     else arc.normal).loose_ends)
            for c, f in enumerate(model.cell_filters)]
  assert model.cell_widths == widths
  x = checks.images((16, 16, 3))
  stem = model.stem(x)
  first = model.cells[0]
  assert first.out is None
  np.testing.assert_allclose(
      first([stem, stem]), tf.concat(first.loose_end_outputs([stem, stem]), -1))
  assert model.classifier.shape == (model.cell_widths[-1], 10)


def test_official_cell_projects_its_calibrated_second_input():
  # layer_base of _fixed_layer (4bcfd73): ReLU -> conv1x1 -> BN on input 1,
  # after _maybe_calibrate_size brought both inputs to F_c channels.
  model = fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=6,
                               aux_head=False, **checks.SMALL)
  assert model.reduction_cells == (2, 5)
  for cell, f in zip(model.cells, model.cell_filters):
    assert cell.base.relu_before
    assert tuple(cell.base.kernel.shape) == (1, 1, f, f)
  second = model.cells[1]  # reads the stem (3F) and cell 0 (5F): both calibrated
  assert tuple(second.calibrate_0.kernel.shape) == (1, 1, 24, 8)
  assert tuple(second.calibrate_1.kernel.shape) == (1, 1, 40, 8)


def test_conv1x1_cell_output_projects_back_to_the_cell_width():
  model = fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=3,
                               aux_head=False, cell_output="conv1x1",
                               **checks.SMALL)
  assert model.cell_widths == model.cell_filters
  assert all(cell.base is None and cell.out is not None
             for cell in model.cells)
  loss, grads = checks.loss_and_grads(model, checks.images((16, 16, 3)),
                                      tf.constant([3, 4]))
  assert np.isfinite(float(loss))
  assert all(g is not None for g in grads)


def test_unknown_cell_output_is_refused():
  with pytest.raises(ValueError, match="cell_output"):
    fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=3, aux_head=False,
                         cell_output="sum", **checks.SMALL)


@pytest.mark.parametrize("gin_file", ["gin/enas/cifar10_micro_final.gin",
                                      "gin/enas/fashion_mnist_final_cpu.gin"])
def test_final_gin_files_build_the_official_cell(gin_file):
  gin.clear_config()
  gin.add_config_file_search_path(REPO)
  try:
    gin.parse_config_files_and_bindings([os.path.join(REPO, gin_file)], [],
                                        finalize_config=False)
    config = ft.FinalTrainingConfig()
  finally:
    gin.clear_config()
  assert config.micro_cell_output == "concat"
  assert family.FAMILY.final_settings(config)["cell_output"] == "concat"


def test_micro_has_only_the_chosen_ops():
  model = fm.build_micro_final(MICRO_NO_SEP5, num_layers=3, aux_head=False,
                               **checks.SMALL)
  shapes = checks.kernel_shapes(model)
  assert not any(s[:2] == (5, 5) for s in shapes)
  assert any(s[:2] == (3, 3) and s[3] == 1 for s in shapes if len(s) == 4)
  paper = fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=3,
                               aux_head=False, **checks.SMALL)
  assert any(s[:2] == (5, 5) for s in checks.kernel_shapes(paper))


def test_micro_aux_head_outputs_logits_and_its_weights_get_gradients():
  # 20x20 inputs leave 5x5 after two reductions, the aux head's minimum.
  model = fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=3,
                               input_shape=(20, 20, 3), num_classes=10,
                               out_filters=4)
  assert model.aux_head is not None
  assert model.aux_index == model.reduction_cells[-1] + 1
  logits, aux = model(checks.images((20, 20, 3)), training=True)
  assert logits.shape == aux.shape == (2, 10)
  _, grads = checks.loss_and_grads(model, checks.images((20, 20, 3)), tf.constant([0, 1]))
  by_id = {id(w): g for w, g in zip(model.trainable_weights, grads)}
  aux_grads = [by_id[id(w)] for w in model.aux_head.trainable_weights]
  assert aux_grads and all(g is not None for g in aux_grads)
  assert float(tf.add_n([tf.reduce_sum(tf.abs(g)) for g in aux_grads])) > 0
  assert final_common.count_params(model) > final_common.count_params(model,
                                                  include_aux_head=False)


def test_micro_model_progress_variable_drives_drop_path():
  model = fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=3,
                               aux_head=False, keep_prob=1.0,
                               drop_path_keep_prob=0.1, **checks.SMALL)
  images = checks.images((16, 16, 3), batch=4)
  model.progress.assign(0.0)
  tf.random.set_seed(1)
  a = model(images, training=True)
  tf.random.set_seed(1)
  b = model(images, training=True)
  np.testing.assert_allclose(a, b, rtol=1e-5)  # no randomness at progress 0
  model.progress.assign(1.0)
  c = model(images, training=True)
  assert not np.allclose(a, c)


def test_paper_size_official_arc_has_the_official_parameter_counts(capsys):
  # The variables of the official fixed child (4bcfd73) for the arc of
  # cifar10_micro_final.sh at 15 layers, 36 filters: 4,389,220 with the aux
  # head, 3,894,372 without (the count the official code printed). The
  # paper's 4.6M: see the module docstring of enas.micro.final_model.
  micro = fm.build_micro_final(spaces.PAPER_MICRO_ARC, input_shape=(32, 32, 3),
                               num_classes=10, num_layers=15, out_filters=36)
  counts = {"micro": final_common.count_params(micro),
            "micro_without_aux": final_common.count_params(
                micro, include_aux_head=False)}
  with capsys.disabled():
    print(f"\nmicro parameter counts (paper: 4.6M): {counts}")
  assert counts["micro"] == pytest.approx(4_389_220, rel=0.02)
  assert counts["micro_without_aux"] == pytest.approx(3_894_372, rel=0.02)


def test_odd_image_sizes_round_up_at_each_reduction_as_stride_2_same_does():
  from enas.micro import supergraph  # pylint: disable=g-import-not-at-top
  model = fm.build_micro_final(MICRO_NO_SEP5, input_shape=(9, 9, 1),
                               num_classes=3, num_layers=2, out_filters=4,
                               aux_head=False)
  assert model.cell_sizes == [5, 3, 3, 3]
  assert model(np.zeros((2, 9, 9, 1), np.float32)).shape == (2, 3)
  shared = supergraph.MicroSupergraph(
      spaces.micro_space(num_nodes=5), input_shape=(9, 9, 1), num_classes=3,
      num_layers=2, out_filters=4, aux_weight=0.0)
  tokens = spaces.as_micro_architecture(MICRO_NO_SEP5).tokens
  assert shared.logits(np.zeros((2, 9, 9, 1), np.float32), tokens).shape == (2, 3)
