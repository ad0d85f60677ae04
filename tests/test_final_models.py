"""Specification of the ENAS final models and their training (§3.2).

Small widths and images for speed, but the official architectures and layer
counts (15 + 2 micro cells, 24 macro layers). The paper-size models are only
built, to record their parameter counts.
"""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from enas.image import final_models as fm
from enas.image import final_training as ft
from enas.image import spaces as spaces

SMALL = dict(input_shape=(16, 16, 3), num_classes=10, out_filters=8)

# Normal and reduction cells using only sep_conv3x3 (0), pools (2, 3) and
# identity (4): no 5x5 kernel anywhere.
MICRO_NO_SEP5 = ("0 0 1 2 0 3 1 4 2 0 3 0 1 4 2 2 4 0 0 3 "
                 "1 0 0 2 1 3 0 4 2 0 3 2 0 0 1 4 5 3 4 0")


def _images(shape, batch=2, seed=0):
  rng = np.random.default_rng(seed)
  return tf.constant(rng.normal(size=(batch, *shape)), tf.float32)


def _loss_and_grads(model, images, labels, aux_weight=0.4):
  with tf.GradientTape() as tape:
    logits, aux = fm.split_outputs(model(images, training=True))
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    if aux is not None:
      loss += aux_weight * tf.reduce_mean(
          tf.nn.sparse_softmax_cross_entropy_with_logits(labels, aux))
  return loss, tape.gradient(loss, model.trainable_weights)


def _kernel_shapes(model):
  return [tuple(w.shape) for w in model.weights]


# ------------------------------------------------------------------ macro
def test_official_macro_arc_trains_forward_and_backward():
  model = fm.build_macro_final(spaces.PAPER_MACRO_ARC, **SMALL)
  assert len(model.ops) == 24
  loss, grads = _loss_and_grads(model, _images((16, 16, 3)),
                                tf.constant([1, 2]))
  assert np.isfinite(float(loss))
  assert all(g is not None for g in grads)


def test_macro_channels_double_at_each_pool_layer():
  model = fm.build_macro_final(spaces.PAPER_MACRO_ARC, **SMALL)
  assert spaces.decode_macro(spaces.PAPER_MACRO_ARC).pool_layers == (7, 15)
  assert model.layer_widths == [8] * 8 + [16] * 8 + [32] * 8
  assert model.layer_sizes == [16] * 8 + [8] * 8 + [4] * 8


def test_macro_separable_ops_are_really_separable_and_pools_are_built():
  # Layer 0 sep_conv3x3, layer 1 max_pool, layer 2 avg_pool (official bug 3:
  # separable ops were ordinary convs and pools were never built).
  model = fm.build_macro_final("1 5 0 4 1 0", **SMALL)
  shapes = _kernel_shapes(model)
  assert (3, 3, 8, 1) in shapes                 # depthwise 3x3
  full_kxk = [s for s in shapes if len(s) == 4 and s[0] > 1 and s[3] > 1]
  assert full_kxk == [(3, 3, 3, 8)]             # the stem only
  assert [op.op for op in model.ops] == [1, 5, 4]
  logits = model(_images((16, 16, 3)), training=False)
  assert logits.shape == (2, 10)


def test_macro_has_only_the_chosen_ops():
  # Three conv3x3 layers: no 5x5 kernel and no depthwise kernel.
  model = fm.build_macro_final("0 0 1 0 1 1", **SMALL)
  shapes = _kernel_shapes(model)
  assert not any(s[:2] == (5, 5) for s in shapes)
  assert not any(len(s) == 4 and s[3] == 1 for s in shapes)


# ------------------------------------------------------------------ micro
def test_official_micro_arc_trains_forward_and_backward():
  model = fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=15,
                               aux_head=False, **SMALL)
  assert len(model.cells) == 17
  assert model.reduction_cells == (5, 11)
  loss, grads = _loss_and_grads(model, _images((16, 16, 3)),
                                tf.constant([3, 4]))
  assert np.isfinite(float(loss))
  assert all(g is not None for g in grads)


def test_micro_channels_double_at_reduction_cells():
  model = fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=15,
                               aux_head=False, **SMALL)
  assert model.cell_widths == [8] * 5 + [16] * 6 + [32] * 6
  assert model.cell_sizes == [16] * 5 + [8] * 6 + [4] * 6


def test_micro_has_only_the_chosen_ops():
  model = fm.build_micro_final(MICRO_NO_SEP5, num_layers=3, aux_head=False,
                               **SMALL)
  shapes = _kernel_shapes(model)
  assert not any(s[:2] == (5, 5) for s in shapes)
  assert any(s[:2] == (3, 3) and s[3] == 1 for s in shapes if len(s) == 4)
  paper = fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=3,
                               aux_head=False, **SMALL)
  assert any(s[:2] == (5, 5) for s in _kernel_shapes(paper))


def test_micro_aux_head_outputs_logits_and_its_weights_get_gradients():
  # 20x20 inputs leave 5x5 after two reductions, the aux head's minimum.
  model = fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=3,
                               input_shape=(20, 20, 3), num_classes=10,
                               out_filters=4)
  assert model.aux_head is not None
  assert model.aux_index == model.reduction_cells[-1] + 1
  logits, aux = model(_images((20, 20, 3)), training=True)
  assert logits.shape == aux.shape == (2, 10)
  _, grads = _loss_and_grads(model, _images((20, 20, 3)), tf.constant([0, 1]))
  by_id = {id(w): g for w, g in zip(model.trainable_weights, grads)}
  aux_grads = [by_id[id(w)] for w in model.aux_head.trainable_weights]
  assert aux_grads and all(g is not None for g in aux_grads)
  assert float(tf.add_n([tf.reduce_sum(tf.abs(g)) for g in aux_grads])) > 0
  assert fm.count_params(model) > fm.count_params(model,
                                                  include_aux_head=False)


# -------------------------------------------------------------- drop path
def test_drop_path_schedule_scales_with_layer_and_progress():
  drop = fm.DropPath(0.6, layer=16, num_cells=17)
  assert float(drop.keep(0.0)) == pytest.approx(1.0)
  assert float(drop.keep(1.0)) == pytest.approx(0.6)
  assert float(drop.keep(0.5)) == pytest.approx(0.8)
  first = fm.DropPath(0.6, layer=0, num_cells=17)
  assert float(first.keep(1.0)) == pytest.approx(1 - 0.4 / 17)


def test_drop_path_is_identity_at_eval_and_at_progress_zero():
  x = tf.ones([64, 2, 2, 3])
  drop = fm.DropPath(0.6, layer=16, num_cells=17)
  np.testing.assert_array_equal(drop(x, progress=1.0, training=False), x)
  np.testing.assert_array_equal(drop(x, progress=0.0, training=True), x)
  keep_all = fm.DropPath(1.0, layer=16, num_cells=17)
  np.testing.assert_array_equal(keep_all(x, progress=1.0, training=True), x)


def test_drop_path_drops_whole_examples_while_training():
  tf.random.set_seed(0)
  x = tf.ones([256, 2, 2, 3])
  drop = fm.DropPath(0.6, layer=16, num_cells=17)
  y = drop(x, progress=1.0, training=True).numpy()
  per_example = y.reshape(256, -1)
  assert np.all(per_example.min(1) == per_example.max(1))  # whole examples
  dropped = np.mean(per_example[:, 0] == 0)
  assert 0.2 < dropped < 0.6
  np.testing.assert_allclose(per_example[per_example[:, 0] > 0], 1 / 0.6,
                             rtol=1e-5)


def test_micro_model_progress_variable_drives_drop_path():
  model = fm.build_micro_final(spaces.PAPER_MICRO_ARC, num_layers=3,
                               aux_head=False, keep_prob=1.0,
                               drop_path_keep_prob=0.1, **SMALL)
  images = _images((16, 16, 3), batch=4)
  model.progress.assign(0.0)
  tf.random.set_seed(1)
  a = model(images, training=True)
  tf.random.set_seed(1)
  b = model(images, training=True)
  np.testing.assert_allclose(a, b, rtol=1e-5)  # no randomness at progress 0
  model.progress.assign(1.0)
  c = model(images, training=True)
  assert not np.allclose(a, c)


# ------------------------------------------------------- paper-size models
def test_paper_size_parameter_counts(capsys):
  micro = fm.build_micro_final(spaces.PAPER_MICRO_ARC, input_shape=(32, 32, 3),
                               num_classes=10, num_layers=15, out_filters=36)
  macro = fm.build_macro_final(spaces.PAPER_MACRO_ARC, input_shape=(32, 32, 3),
                               num_classes=10, out_filters=96)
  counts = {"micro": fm.count_params(micro),
            "micro_without_aux": fm.count_params(micro,
                                                 include_aux_head=False),
            "macro": fm.count_params(macro)}
  with capsys.disabled():
    print(f"\nparameter counts (paper: micro 4.6M, macro 21.3M): {counts}")
  assert 2e6 < counts["micro_without_aux"] < counts["micro"] < 6e6
  assert 1e7 < counts["macro"] < 5e7


# --------------------------------------------------------------- training
CONFIG = ft.FinalTrainingConfig(
    space="micro", dataset="digits", num_valid=200, batch_size=64, epochs=1,
    num_layers=1, out_filters=4, aux_weight=0.0, augment=False,
    keep_prob=1.0)


def test_train_final_image_on_digits_is_ok(tmp_path):
  result = ft.train_final_image(spaces.PAPER_MICRO_ARC, CONFIG, seed=0,
                                output_dir=str(tmp_path))
  assert result.status == "ok", result.error
  assert 0.0 <= result.test_accuracy <= 1.0
  assert result.valid_accuracy == result.valid_accuracies[-1]
  assert 0.0 <= result.valid_accuracy <= 1.0
  assert result.params > 0 and result.error == ""
  assert (tmp_path / "model.weights.h5").exists()


def test_train_final_image_reports_divergence_without_raising():
  config = dataclasses.replace(CONFIG, lr_max=1e30, lr_min=1e30, max_train=256)
  result = ft.train_final_image(spaces.PAPER_MICRO_ARC, config, seed=0)
  assert result.status == "failed"
  assert result.test_accuracy is None
  assert "\n" not in result.error and result.error
  assert result.params > 0   # measured before it diverged


def test_train_final_image_rejects_a_macro_layer_mismatch_as_failed():
  config = dataclasses.replace(CONFIG, space="macro", num_layers=12)
  result = ft.train_final_image(spaces.PAPER_MACRO_ARC, config, seed=0)
  assert result.status == "failed" and "24 layers" in result.error


def test_cutout_zeroes_a_square():
  images = np.ones((4, 16, 16, 1), np.float32)
  out = ft.augment_batch(images, np.random.default_rng(0), crop_flip=False,
                         cutout_size=8)
  zeros = (out == 0).reshape(4, -1).sum(1)
  assert np.all((zeros > 0) & (zeros <= 64))
