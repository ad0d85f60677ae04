"""Checks shared by the macro and micro supergraph specifications."""

import numpy as np
import tensorflow as tf

from enas.image import spaces as spaces


def assert_switch_logits_equal_fixed(model, graph_logits, space, images,
                                     seed: int) -> None:
  """The one compiled graph (arc as a tensor) computes the fixed child."""
  arc = spaces.random_architecture(space, np.random.default_rng(seed))
  np.testing.assert_allclose(
      graph_logits(images, arc.tokens),
      model.logits(images, arc, static=True), rtol=1e-4, atol=1e-4)


def assert_switch_gradients_equal_fixed(model, space, images, labels,
                                        seed: int, count: int = 3) -> None:
  """The one-graph-for-all step back-propagates like each fixed child.

  For `count` random architectures, every weight's gradient of the loss
  through the switch graph (arc as a tensor) equals the gradient through the
  graph built for that fixed architecture (zero where it is unused).
  """

  def loss(arc):
    logits = model._forward(images, arc, True)[0]  # pylint: disable=protected-access
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))

  @tf.function(autograph=False)
  def switch_grads(tokens):
    with tf.GradientTape() as tape:
      value = loss(tokens)
    return tape.gradient(value, model.trainable_weights)

  rng = np.random.default_rng(seed)
  for _ in range(count):
    arc = spaces.random_architecture(space, rng)
    with tf.GradientTape() as tape:
      value = loss(tuple(arc.tokens))
    fixed = tape.gradient(value, model.trainable_weights)
    switch = switch_grads(tf.constant(arc.tokens, tf.int32))
    for var, a, b in zip(model.trainable_weights, fixed, switch):
      a = np.zeros(var.shape) if a is None else tf.convert_to_tensor(a)
      b = np.zeros(var.shape) if b is None else tf.convert_to_tensor(b)
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6,
                                 err_msg=f"{var.path} {arc.to_string()}")
