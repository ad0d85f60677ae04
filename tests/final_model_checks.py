"""Helpers shared by the macro and micro final model specifications."""

import numpy as np
import tensorflow as tf

from enas.image import final_common

SMALL = dict(input_shape=(16, 16, 3), num_classes=10, out_filters=8)
"""Small widths and images for speed."""


def images(shape, batch=2, seed=0):
  rng = np.random.default_rng(seed)
  return tf.constant(rng.normal(size=(batch, *shape)), tf.float32)


def loss_and_grads(model, images, labels, aux_weight=0.4):
  with tf.GradientTape() as tape:
    logits, aux = final_common.split_outputs(model(images, training=True))
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    if aux is not None:
      loss += aux_weight * tf.reduce_mean(
          tf.nn.sparse_softmax_cross_entropy_with_logits(labels, aux))
  return loss, tape.gradient(loss, model.trainable_weights)


def kernel_shapes(model):
  return [tuple(w.shape) for w in model.weights]
