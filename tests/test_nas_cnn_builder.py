"""Specification of the NAS CNN child builder (Zoph & Le §3.1, §3.3)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # pylint: disable=g-import-not-at-top
import numpy as np
import pytest
import tensorflow as tf

from child.nas_cnn.builder import (ConvLayer, build_cnn, count_params,
                                   dangling_layers, validate_layers)

SMALL = (8, 8, 1)
CIFAR = (32, 32, 3)


def conv(fh=3, fw=3, filters=24, stride=1, inputs=()):
  return ConvLayer(fh, fw, filters, stride, "conv", tuple(inputs))


def pool(fh=3, fw=3, stride=1, inputs=()):
  return ConvLayer(fh, fw, 0, stride, "max_pool", tuple(inputs))


def forward_and_backward(layers, input_shape, num_classes=10, seed=0):
  """Runs a batch of 2 through the model; returns (model, probs, grads)."""
  model = build_cnn(layers, input_shape, num_classes)
  images = np.random.default_rng(seed).normal(
      size=(2, *input_shape)).astype(np.float32)
  labels = np.array([0, 1], np.int32)
  with tf.GradientTape() as tape:
    probs = model(images, training=True)
    loss = keras.losses.sparse_categorical_crossentropy(labels, probs)
    loss = tf.reduce_mean(loss) + tf.add_n(model.losses)
  grads = tape.gradient(loss, model.trainable_variables)
  return model, probs.numpy(), grads


def assert_trains(layers, input_shape):
  model, probs, grads = forward_and_backward(layers, input_shape)
  assert probs.shape == (2, 10)
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
  for variable, grad in zip(model.trainable_variables, grads):
    assert grad is not None, f"{variable.path} gets no gradient"
    assert np.all(np.isfinite(grad.numpy())), f"{variable.path} non-finite"


def shrink_to_one_pixel(stride):
  """Strided layers until the map is 1x1, then one fed by all of them."""
  layers = [conv(filters=24)]
  size = SMALL[0]
  while size > 1:
    layers.append(conv(filters=36, stride=stride, inputs=[len(layers) - 1]))
    size = -(-size // stride)
  layers.append(conv(inputs=range(len(layers))))
  return layers


PATHOLOGICAL = {
    "no_inputs_anywhere": [conv(), conv(5, 5, 36), conv(1, 7, 48), conv()],
    "all_to_all": [conv(inputs=range(i)) for i in range(6)],
    "stride2_to_1x1_then_concat": shrink_to_one_pixel(2),
    "stride3_to_1x1_then_concat": shrink_to_one_pixel(3),
    "max_pool_mixed_in": [
        conv(), pool(inputs=[0]), pool(5, 5, 2, inputs=[1]),
        conv(7, 7, 64, 3, inputs=[0, 2]), pool(3, 3, 3, inputs=[1, 3]),
        conv(1, 3, 24, inputs=[4])],
    "single_conv": [conv()],
    "single_max_pool": [pool(3, 3, 2)],
    "all_1x1_filters": [conv(1, 1, 24, inputs=range(i)) for i in range(5)],
    "pool_of_image_then_stride3": [pool(7, 7, 3), conv(3, 3, 24, 3, [0]),
                                   conv(inputs=[1])],
}


@pytest.mark.parametrize("input_shape", [SMALL, CIFAR], ids=["8x8", "32x32"])
@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_skip_patterns_build_and_train(name, input_shape):
  assert_trains(PATHOLOGICAL[name], input_shape)


def random_layers(rng):
  layers = []
  for i in range(int(rng.integers(1, 9))):
    inputs = tuple(j for j in range(i) if rng.random() < 0.4)
    layers.append(ConvLayer(
        filter_height=int(rng.choice([1, 3, 5, 7])),
        filter_width=int(rng.choice([1, 3, 5, 7])),
        num_filters=int(rng.choice([24, 36, 48, 64])),
        stride=int(rng.choice([1, 2, 3])),
        kind=str(rng.choice(["conv", "max_pool"], p=[0.7, 0.3])),
        inputs=inputs))
  return layers


@pytest.mark.parametrize("input_shape", [SMALL, CIFAR], ids=["8x8", "32x32"])
@pytest.mark.parametrize("index", range(20))
def test_random_layer_lists_build_and_train(index, input_shape):
  rng = np.random.default_rng(1000 + index)
  assert_trains(random_layers(rng), input_shape)


def test_a_layer_with_no_input_takes_the_image():
  model = build_cnn([conv(), conv(inputs=[0]), conv(5, 5, 36)], SMALL, 10)
  assert model.get_layer("layer_0_conv").input is model.inputs[0]
  assert model.get_layer("layer_2_conv").input is model.inputs[0]
  assert model.get_layer("layer_1_conv").input is not model.inputs[0]


def test_a_conv_layer_is_conv_then_batch_norm_then_relu():
  model = build_cnn([conv()], SMALL, 10)
  conv_layer = model.get_layer("layer_0_conv")
  bn_layer = model.get_layer("layer_0_bn")
  relu_layer = model.get_layer("layer_0_relu")
  assert bn_layer.input is conv_layer.output
  assert relu_layer.input is bn_layer.output
  assert conv_layer.strides == (1, 1) and conv_layer.padding == "same"
  assert conv_layer.kernel_size == (3, 3)
  assert not conv_layer.use_bias


def test_conv_uses_filter_sizes_count_and_stride():
  model = build_cnn([conv(1, 7, 48, 3)], CIFAR, 10)
  layer = model.get_layer("layer_0_conv")
  assert layer.kernel_size == (1, 7)
  assert layer.strides == (3, 3)
  assert tuple(layer.output.shape) == (None, 11, 11, 48)


def test_max_pool_has_no_weights_and_keeps_channels():
  model = build_cnn([conv(filters=36), pool(5, 3, 2, inputs=[0])], SMALL, 10)
  layer = model.get_layer("layer_1_pool")
  assert not layer.weights
  assert layer.pool_size == (5, 3) and layer.strides == (2, 2)
  assert tuple(layer.output.shape) == (None, 4, 4, 36)


def test_inputs_are_zero_padded_bottom_right_and_concatenated_in_depth():
  layers = [conv(filters=24), conv(filters=36, stride=2, inputs=[0]),
            conv(inputs=[0, 1])]
  model = build_cnn(layers, SMALL, 10)
  concat = model.get_layer("layer_2_in_concat").output
  assert tuple(concat.shape) == (None, 8, 8, 24 + 36)
  probe = keras.Model(model.inputs[0], concat)
  images = np.random.default_rng(0).normal(size=(2, *SMALL)).astype("f4")
  maps = probe(images, training=False).numpy()
  small = maps[..., 24:]
  assert np.all(small[:, 4:, :, :] == 0) and np.all(small[:, :, 4:, :] == 0)
  assert np.any(small[:, :4, :4, :] != 0)


def test_dangling_layers_are_those_no_later_layer_uses():
  layers = [conv(), conv(), conv(inputs=[1]), conv(inputs=[2]), conv()]
  assert dangling_layers(layers) == [0, 3]
  assert dangling_layers([conv()]) == []


def test_dangling_outputs_reach_the_classifier():
  # Layer 0 is used by nobody; layer 1 (stride 2) by nobody; layer 2 is last.
  layers = [conv(filters=24), conv(filters=36, stride=2), conv(filters=48)]
  model = build_cnn(layers, SMALL, 10)
  final = model.get_layer("final_concat").output
  assert tuple(final.shape) == (None, 8, 8, 48 + 24 + 36)
  model, _, grads = forward_and_backward(layers, SMALL)
  by_path = {v.path: g for v, g in zip(model.trainable_variables, grads)}
  for i in (0, 1):
    kernel = model.get_layer(f"layer_{i}_conv").kernel
    assert np.any(by_path[kernel.path].numpy() != 0)


def test_used_outputs_are_not_concatenated_again_at_the_end():
  model = build_cnn([conv(filters=24), conv(filters=36, inputs=[0])], SMALL, 10)
  assert model.get_layer("global_pool").input is (
      model.get_layer("layer_1_relu").output)


def test_weight_decay_is_l2_on_conv_and_dense_kernels():
  layers = [conv(), pool(inputs=[0]), conv(inputs=[1])]
  model = build_cnn(layers, SMALL, 10, weight_decay=1e-3)
  assert len(model.losses) == 3  # two conv kernels and the dense kernel
  kernels = [model.get_layer(n).kernel for n in
             ("layer_0_conv", "layer_2_conv", "classifier")]
  expected = sum(1e-3 * np.sum(np.square(k.numpy())) for k in kernels)
  np.testing.assert_allclose(float(tf.add_n(model.losses)), expected,
                             rtol=1e-5)
  assert not build_cnn(layers, SMALL, 10, weight_decay=0.0).losses


def test_dropout_is_applied_before_the_classifier_when_asked():
  model = build_cnn([conv()], SMALL, 10, dropout=0.5)
  assert model.get_layer("dropout").rate == 0.5
  assert model.get_layer("classifier").input is model.get_layer(
      "dropout").output
  names = [layer.name for layer in build_cnn([conv()], SMALL, 10).layers]
  assert "dropout" not in names


def test_count_params_counts_trainable_weights():
  model = build_cnn([conv(3, 3, 24)], SMALL, 10)
  # conv 3*3*1*24 (no bias) + batch norm gamma, beta + dense 24*10 + 10.
  assert count_params(model) == 216 + 48 + 250


@pytest.mark.parametrize("layers", [
    [], [conv(inputs=[0])], [conv(), conv(inputs=[2])],
    [conv(), ConvLayer(3, 3, 24, 1, "avg_pool", ())], [conv(0, 3)],
    [conv(stride=0)], [conv(filters=0)]])
def test_malformed_layer_lists_are_rejected(layers):
  with pytest.raises(ValueError):
    validate_layers(layers)
