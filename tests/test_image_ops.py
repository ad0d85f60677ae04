"""Specification of shared building blocks in `enas.image.ops`."""

import types

import keras
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


# ------------------------------------------------------ gradient clipping
def _grads():
  return [tf.constant([3.0, 4.0]),            # norm 5
          tf.constant([[0.3, 0.4]]),          # norm 0.5
          tf.constant([[6.0, 8.0], [0.0, 1.0]])]  # rows 10 and 1; norm ~10.05


def test_norm_mode_clips_each_tensor_as_the_official_code_meant():
  # get_train_ops (melodyguan/enas 4bcfd73) clip_mode="norm": tf.clip_by_norm
  # of each gradient.
  grads = _grads()
  clipped, stats = image_ops.clip_gradients(grads, "norm", 2.0)
  for got, g in zip(clipped, grads):
    np.testing.assert_allclose(got, tf.clip_by_norm(g, 2.0), rtol=1e-6)
  assert stats["clipped"] == 1.0
  assert float(stats["max_grad_norm"]) == pytest.approx(np.sqrt(101.0))
  assert float(stats["grad_norm"]) == pytest.approx(np.sqrt(25 + 0.25 + 101))


def test_norm_mode_clips_each_row_of_a_weight_set_table_on_its_own():
  grads = _grads()
  clipped, stats = image_ops.clip_gradients(grads, "norm", 2.0,
                                            row_wise=[False, False, True])
  np.testing.assert_allclose(clipped[2], [[1.2, 1.6], [0.0, 1.0]], rtol=1e-6)
  assert float(stats["max_grad_norm"]) == pytest.approx(10.0)


def test_global_mode_clips_all_tensors_together():
  grads = _grads()
  clipped, stats = image_ops.clip_gradients(grads, "global", 2.0)
  expected, norm = tf.clip_by_global_norm(grads, 2.0)
  for got, want in zip(clipped, expected):
    np.testing.assert_allclose(got, want, rtol=1e-6)
  assert float(stats["grad_norm"]) == pytest.approx(float(norm))
  assert stats["clipped"] == 1.0


@pytest.mark.parametrize("mode,bound", [("none", 2.0), ("norm", 0.0),
                                        ("norm", 20.0), ("global", 20.0)])
def test_no_clip_leaves_the_gradients_unchanged(mode, bound):
  # 'none' is what the official code did: it appended the unclipped gradient.
  grads = _grads()
  clipped, stats = image_ops.clip_gradients(grads, mode, bound)
  for got, g in zip(clipped, grads):
    np.testing.assert_array_equal(got, g)
  assert stats["clipped"] == 0.0


def test_an_unknown_clip_mode_is_a_config_error():
  from controller.errors import ConfigError  # pylint: disable=g-import-not-at-top
  with pytest.raises(ConfigError, match="clip_mode"):
    image_ops.check_clip_mode("per_tensor", "EnasConfig.clip_mode")


# ------------------------------------------- the shared step and its reward
class OneLayer(image_ops.SharedWeightModel):
  """A stand-in supergraph: the image's two channels are the logits."""

  def __init__(self, keep_prob):
    super().__init__(types.SimpleNamespace(num_tokens=1),
                     input_shape=(2, 2, 2), num_classes=2,
                     keep_prob=keep_prob, l2_reg=0.0, grad_bound=1e-3,
                     momentum=0.9)
    self.classifier = self.add_weight(
        shape=(2, 2), initializer=keras.initializers.Identity())
    self._compile_steps()

  def _forward(self, images, arc, training):
    del arc
    return self._classify(images, training), None


def _class_one_batch(n=64):
  images = np.zeros((n, 2, 2, 2), np.float32)
  images[..., 1] = 1.0
  return images, np.ones(n, np.int32)


def test_the_reward_runs_with_dropout_only_in_training_mode():
  model = OneLayer(keep_prob=1e-3)  # dropout zeroes the logits: predicts 0
  images, labels = _class_one_batch()
  for _ in range(3):
    assert float(model.eval_accuracy(images, labels, [0])) == 1.0
    assert float(model.eval_accuracy(images, labels, [0],
                                     training=True)) < 0.2
  assert model.trace_count == 2  # one compiled function per mode


def test_the_step_reports_its_gradient_norms_and_whether_clipping_bit():
  model = OneLayer(keep_prob=1.0)
  model.clip_mode = "norm"
  out = model.train_step(*_class_one_batch(), [0], 0.1)
  assert out["grad_norm"] > 1e-3 and out["clipped"] == 1.0
  assert float(out["max_grad_norm"]) == pytest.approx(float(out["grad_norm"]))
  assert model.train_trace_count == 1
  with pytest.raises(RuntimeError, match="before the first train_step"):
    model.clip_mode = "global"
