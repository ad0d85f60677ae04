"""The Zoph & Le CNN space: what the controller samples always builds (§3.3)."""

import numpy as np
import pytest
import tensorflow as tf

from child.nas_cnn import builder as nas_cnn_builder
from child.nas_cnn import space as nas_cnn_space
from controller import lstm_controller
from controller import search_space as ss


def test_decode_reads_filter_sizes_counts_strides_and_skip_inputs():
  space = nas_cnn_space.nas_cnn_space(num_layers=2, strides=(1, 2, 3))
  # layer 0: 3x7, stride 3, 64 filters; layer 1: 1x1, stride 1, 24, fed by 0.
  layers = nas_cnn_space.decode(space.parse("1 3 2 3  0 0 0 0 1"))
  assert layers[0] == nas_cnn_builder.ConvLayer(3, 7, 64, 3, "conv", ())
  assert layers[1] == nas_cnn_builder.ConvLayer(1, 1, 24, 1, "conv", (0,))


def test_the_pooling_variant_adds_a_layer_type_decision():
  space = nas_cnn_space.nas_cnn_space(num_layers=1, pooling=True)
  assert nas_cnn_space.decode(space.parse("1 1 1 0"))[0].kind == "max_pool"


@pytest.mark.parametrize("strides, pooling", [(None, False), ((1, 2, 3), True)])
def test_every_sampled_cnn_builds_and_trains_a_step(strides, pooling):
  space = nas_cnn_space.nas_cnn_space(num_layers=6, strides=strides,
                                      pooling=pooling)
  controller = lstm_controller.LSTMController(space, seed=11)
  images = tf.random.normal((2, 12, 12, 1), seed=0)
  for _ in range(6):
    layers = nas_cnn_space.decode(controller.sample().arc)
    model = nas_cnn_builder.build_cnn(layers, (12, 12, 1), 10)
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(-tf.math.log(model(images, training=True)[:, 3]))
    grads = tape.gradient(loss, model.trainable_variables)
    assert np.isfinite(float(loss))
    assert all(g is not None and np.all(np.isfinite(g)) for g in grads)


def test_an_arc_string_with_a_bad_skip_bit_names_its_position():
  space = nas_cnn_space.nas_cnn_space(num_layers=2)
  with pytest.raises(ss.ArchitectureError, match="position 6"):
    space.parse("1 1 1  0 0 0 2")
