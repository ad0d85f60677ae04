"""Specification of what the ENAS final models share (§3.2): drop path."""

import numpy as np
import pytest
import tensorflow as tf

from enas.image import final_common as fm


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
