"""Specification of shared building blocks in `enas.image_ops`."""

import numpy as np
import pytest
import tensorflow as tf

from enas import image_ops


@pytest.mark.parametrize("strides,size,padding", [(1, 3, "SAME"),
                                                  (2, 3, "VALID")])
def test_max_pool_values_and_gradient_equal_tensorflow(strides, size, padding):
  rng = np.random.default_rng(0)
  # Repeated values: ties must go where TensorFlow sends them.
  x = tf.constant(rng.integers(0, 3, size=(2, 7, 7, 3)).astype(np.float32))
  upstream = tf.constant(rng.normal(size=(2, 7, 7, 3)).astype(np.float32))

  def grads(pool):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = pool(x)
      loss = tf.reduce_sum(y * upstream[:, :y.shape[1], :y.shape[2]])
    return y, tape.gradient(loss, x)

  got = grads(lambda t: image_ops.pool2d(t, "max", strides, size, padding))
  want = grads(lambda t: tf.nn.max_pool2d(t, size, strides, padding))
  for a, b in zip(got, want):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
