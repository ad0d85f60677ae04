"""Specification of shared building blocks in `enas.image.ops`."""

import numpy as np
import pytest
import tensorflow as tf

from enas.image import ops as image_ops


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


def _sep_conv_like(x, kernel):
  return tf.nn.relu(tf.nn.conv2d(tf.nn.relu(x), kernel, 1, "SAME")) ** 2


def test_recompute_gradient_equals_the_plain_gradient():
  rng = np.random.default_rng(1)
  x = tf.constant(rng.normal(size=(2, 5, 5, 3)).astype(np.float32))
  kernel = tf.constant(rng.normal(size=(3, 3, 3, 3)).astype(np.float32))
  upstream = tf.constant(rng.normal(size=(2, 5, 5, 3)).astype(np.float32))

  @tf.function(autograph=False)
  def grads(fn):
    with tf.GradientTape() as tape:
      tape.watch([x, kernel])
      y = fn(x, kernel)
      loss = tf.reduce_sum(y * upstream)
    return [y, *tape.gradient(loss, [x, kernel])]

  got = grads(lambda *t: image_ops.recompute_gradient(_sep_conv_like, *t))
  want = grads(_sep_conv_like)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_recompute_gradient_works_in_a_switch_inside_a_while_loop():
  # The micro supergraph's nesting: loop body -> op switch -> recomputed op.
  x = tf.constant(np.linspace(-1, 1, 2 * 4 * 4 * 2, dtype=np.float32)
                  .reshape(2, 4, 4, 2))
  kernel = tf.constant(np.full((1, 1, 2, 2), 0.5, np.float32))

  @tf.function(autograph=False)
  def grad(op):
    with tf.GradientTape() as tape:
      tape.watch(x)

      def body(n, h):
        branches = [lambda: image_ops.recompute_gradient(_sep_conv_like, h,
                                                         kernel),
                    lambda: image_ops.pool2d(h, "max")]
        return n + 1, tf.switch_case(op, branches)

      _, y = tf.while_loop(lambda n, _: n < 2, body, (tf.constant(0), x))
      loss = tf.reduce_sum(y)
    return tape.gradient(loss, x)

  def unrolled(fn):
    with tf.GradientTape() as tape:
      tape.watch(x)
      loss = tf.reduce_sum(fn(fn(x)))
    return tape.gradient(loss, x)

  np.testing.assert_allclose(
      grad(tf.constant(0)).numpy(),
      unrolled(lambda t: _sep_conv_like(t, kernel)).numpy(), rtol=1e-5)
  np.testing.assert_allclose(
      grad(tf.constant(1)).numpy(),
      unrolled(lambda t: tf.nn.max_pool2d(t, 3, 1, "SAME")).numpy(), rtol=1e-5)
