"""Trains one NAS CNN child and turns its validation accuracy into a reward.

Zoph & Le 2017, §3.2: each sampled architecture is built, trained to
convergence on the training split, and its accuracy on a held-out validation
set is the controller's reward; for CIFAR-10 the reward is the maximum
validation accuracy of the last 5 epochs, cubed. §4.1: children of the CIFAR
search train for 50 epochs with momentum SGD (marked unverified in the
project's reference notes).

One worker process trains many children in sequence, so `train_child` never
raises: a diverging child (non-finite loss) or any exception while building
or training gives a ``'failed'`` `child.outcome.Outcome` with reward 0, and
the Keras session is cleared afterwards.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from typing import Any, Sequence

import gin
import keras
import numpy as np
import tensorflow as tf

from child import epoch_checkpoint
from child import latency as latency_lib
from child import outcome
from child.nas_cnn import cost as cost_lib
from child import progress
from child import summaries
from child.nas_cnn.builder import ConvLayer, build_cnn, count_params
from controller import config_check

_EVAL_BATCH = 1024
_AUGMENT_PAD = 4


class _ExpectedRetracingFilter(logging.Filter):
  """Drops TF's retracing warning: each child traces its own fresh steps once."""

  def filter(self, record: logging.LogRecord) -> bool:
    return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_ExpectedRetracingFilter())


@gin.configurable
@dataclasses.dataclass(frozen=True)
class ChildTrainerConfig:
  """How a child is trained (Zoph & Le §3.2, §4.1).

  The paper gives 50 epochs, momentum SGD and the reward; the rest are the
  usual CIFAR settings of the time (also those of the official ENAS code):
  batch 128, learning rate 0.1, Nesterov momentum 0.9, weight decay 1e-4.
  The learning rate is constant.

  Attributes:
    epochs: training epochs.
    batch_size: training minibatch size.
    learning_rate: SGD learning rate.
    momentum: SGD momentum.
    nesterov: use Nesterov momentum.
    weight_decay: L2 coefficient on conv and dense kernels.
    dropout: dropout rate before the classifier.
    reward_last_k: the reward uses the best of the last k epochs.
    reward_power: the reward is that accuracy raised to this power.
    max_train_batches_per_epoch: cap on minibatches per epoch (None = all),
      for quick runs.
    augment: random crops of the 4-pixel zero-padded image and random
      horizontal flips (the CIFAR augmentation); off for digits.
  """

  epochs: int = 50
  batch_size: int = 128
  learning_rate: float = 0.1
  momentum: float = 0.9
  nesterov: bool = True
  weight_decay: float = 1e-4
  dropout: float = 0.0
  reward_last_k: int = 5
  reward_power: float = 3.0
  max_train_batches_per_epoch: int | None = None
  augment: bool = False

  def __post_init__(self):
    config_check.check(
        self, positive=("epochs", "batch_size", "reward_last_k",
                        "max_train_batches_per_epoch"),
        non_negative=("learning_rate", "momentum", "weight_decay",
                      "reward_power"),
        unit=("dropout",))


def reward_from_accuracies(accuracies: Sequence[float], last_k: int,
                           power: float) -> float:
  """The §3.2 CIFAR reward: max validation accuracy of the last k epochs, ** power.

  Uses all epochs when there are fewer than `last_k`.

  Raises:
    ValueError: if `accuracies` is empty or `last_k` < 1.
  """
  if not accuracies:
    raise ValueError("no validation accuracies to compute a reward from")
  if last_k < 1:
    raise ValueError(f"last_k must be >= 1, got {last_k}")
  return float(max(accuracies[-last_k:])) ** power


def _augment(index, image, label, seed):
  """Random crop of the zero-padded image and random flip, stateless."""
  height, width, channels = image.shape
  padded = tf.pad(image, [[_AUGMENT_PAD] * 2, [_AUGMENT_PAD] * 2, [0, 0]])
  crop_seed = tf.stack([seed, 2 * index])
  flip_seed = tf.stack([seed, 2 * index + 1])
  image = tf.image.stateless_random_crop(
      padded, [height, width, channels], seed=crop_seed)
  image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
  return image, label


def _train_batches(base: tf.data.Dataset, num_train: int,
                   config: ChildTrainerConfig, seed: int, epoch: int):
  """One epoch of shuffled (seed + epoch) minibatches."""
  epoch_seed = seed + epoch
  data = base.shuffle(num_train, seed=epoch_seed,
                      reshuffle_each_iteration=False)
  if config.augment:
    data = data.enumerate().map(
        lambda i, xy: _augment(i, xy[0], xy[1], tf.constant(epoch_seed,
                                                            tf.int64)))
  data = data.batch(config.batch_size)
  if config.max_train_batches_per_epoch is not None:
    data = data.take(config.max_train_batches_per_epoch)
  return data.prefetch(2)


def _make_steps(model: keras.Model, optimizer, input_shape):
  """Compiled training and evaluation steps (one trace each)."""
  loss_fn = keras.losses.SparseCategoricalCrossentropy()
  image_spec = tf.TensorSpec([None, *input_shape], tf.float32)
  label_spec = tf.TensorSpec([None], tf.int32)

  @tf.function(input_signature=[image_spec, label_spec])
  def train_step(images, labels):
    with tf.GradientTape() as tape:
      probs = model(images, training=True)
      loss = loss_fn(labels, probs)
      if model.losses:
        loss += tf.add_n(model.losses)
    variables = model.trainable_variables
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(grads, variables))
    return loss

  @tf.function(input_signature=[image_spec, label_spec])
  def eval_step(images, labels):
    probs = model(images, training=False)
    predicted = tf.argmax(probs, axis=-1, output_type=tf.int32)
    correct = tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.int32))
    finite = tf.reduce_all(tf.math.is_finite(probs))
    return correct, finite

  return train_step, eval_step


def _validate(eval_step, x_valid, y_valid) -> tuple[float, bool]:
  if not len(x_valid):
    raise ValueError("the validation set is empty")
  correct, finite = 0, True
  for start in range(0, len(x_valid), _EVAL_BATCH):
    c, f = eval_step(x_valid[start:start + _EVAL_BATCH],
                     y_valid[start:start + _EVAL_BATCH])
    correct += int(c)
    finite = finite and bool(f)
  return correct / len(x_valid), finite


def _train(layers, dataset, config: ChildTrainerConfig, seed: int,
           evaluate_test: bool, save_model_to: str | None,
           latency: latency_lib.LatencyConfig | None,
           measured: dict[str, Any]) -> str:
  """Builds, trains and scores; fills `measured`; returns an error line or ''."""
  accuracies = measured["valid_accuracies"] = []
  keras.utils.set_random_seed(seed)
  input_shape = tuple(dataset.input_shape)
  model = build_cnn(layers, input_shape, dataset.num_classes,
                    weight_decay=config.weight_decay, dropout=config.dropout)
  measured["params"] = count_params(model)
  measured["flops"] = cost_lib.layers_cost(layers, input_shape,
                                           dataset.num_classes)["flops"]
  optimizer = keras.optimizers.SGD(
      learning_rate=config.learning_rate, momentum=config.momentum,
      nesterov=config.nesterov)
  optimizer.build(model.trainable_variables)
  train_step, eval_step = _make_steps(model, optimizer, input_shape)

  x_train = np.asarray(dataset.x_train, np.float32)
  y_train = np.asarray(dataset.y_train, np.int32)
  x_valid = np.asarray(dataset.x_valid, np.float32)
  y_valid = np.asarray(dataset.y_valid, np.int32)
  base = tf.data.Dataset.from_tensor_slices((x_train, y_train))
  # A final training (one with a model directory) commits after each epoch;
  # batches and augmentation are drawn from (seed, epoch), so a resumed
  # training equals an uninterrupted one. Searches' children do not.
  state = list(model.variables) + list(optimizer.variables)
  first_epoch = 1
  if save_model_to:
    os.makedirs(save_model_to, exist_ok=True)
  resumed = save_model_to and epoch_checkpoint.restore(save_model_to, state)
  if resumed:
    first_epoch = resumed[0]["epoch"] + 2
    accuracies[:] = resumed[0]["valid_accuracies"]
  for epoch in progress.track(range(first_epoch, config.epochs + 1), "child epoch", unit="epoch"):
    losses = [train_step(x, y) for x, y in
              progress.track(_train_batches(base, len(x_train), config, seed, epoch), "step", unit="step")]
    if not math.isfinite(float(tf.add_n(losses))):
      return f"non-finite loss at epoch {epoch}"
    accuracy, finite = _validate(eval_step, x_valid, y_valid)
    if not finite:
      return f"non-finite validation output at epoch {epoch}"
    accuracies.append(accuracy)
    summaries.epoch(epoch, train_loss=float(tf.add_n(losses)) / len(losses), valid_accuracy=accuracy,
                    lr=config.learning_rate)
    if save_model_to:
      epoch_checkpoint.save(save_model_to, epoch - 1, state,
                            {"valid_accuracies": accuracies})
  measured["reward"] = reward_from_accuracies(
      accuracies, config.reward_last_k, config.reward_power)
  measured["valid_accuracy"] = max(accuracies[-config.reward_last_k:])
  if evaluate_test:
    measured["test_accuracy"], _ = _validate(
        eval_step, np.asarray(dataset.x_test, np.float32),
        np.asarray(dataset.y_test, np.int32))
  if save_model_to:
    export(model, save_model_to)
  if latency is not None and latency.runs > 0:
    measured["latency"] = _latency(model, x_valid, latency)
  return ""


def export(model: keras.Model, output_dir: str) -> dict[str, str]:
  """Writes ``model.keras`` and ``saved_model/`` of a trained child to `output_dir`.

  The SavedModel's ``serving_default`` signature maps ``images`` (float32
  ``[batch, H, W, C]``, normalised as the training data) to
  ``probabilities`` (``[batch, num_classes]``, softmax, inference mode); see
  `child.export`.

  Returns:
    ``{'keras': path, 'saved_model': path}``.
  """
  from child import export as export_lib  # pylint: disable=g-import-not-at-top
  spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32,
                       name="images")

  def serve(images):
    return {"probabilities": model(images, training=False)}

  return export_lib.export_keras_model(model, output_dir,
                                       {"serve": (serve, [spec])})


def _latency(model: keras.Model, images: np.ndarray,
             config: latency_lib.LatencyConfig) -> float:
  """Median seconds of one inference forward pass of a batch (`child.latency`)."""
  batch = tf.constant(images[:config.batch_size])
  forward = tf.function(lambda x: model(x, training=False))
  return latency_lib.median_seconds(lambda: forward(batch).numpy(),
                                    config.runs)


def train_child(layers: Sequence[ConvLayer], dataset, config: ChildTrainerConfig,
                seed: int, *, evaluate_test: bool = False,
                save_model_to: str | None = None,
                latency: latency_lib.LatencyConfig | None = None
                ) -> outcome.Outcome:
  """Trains one child from scratch and scores it (Zoph & Le §3.2).

  Momentum SGD on sparse categorical cross-entropy plus L2 weight decay;
  validation accuracy after every epoch. Everything random (initial weights,
  dropout, shuffling with seed ``seed + epoch``, augmentation) follows from
  `seed`, so equal seeds give equal accuracies.

  Args:
    layers: the decoded architecture (see `child.nas_cnn.builder`).
    dataset: has x_train, y_train, x_valid, y_valid (float32 NHWC images,
      int labels), input_shape and num_classes.
    config: training settings.
    seed: the child's random seed.
    evaluate_test: also measure accuracy on dataset.x_test / y_test (final
      training only; a search never looks at the test set).
    save_model_to: a directory: save the trained model there as
      ``model.keras`` and ``saved_model/`` (`export`).
    latency: with ``runs > 0``, also time the trained model's forward pass
      on a validation batch (``latency``, `child.latency`).

  Returns:
    An `Outcome` with ``reward``, ``valid_accuracy`` (the best of the last
    k epochs, which the reward is computed from), ``valid_accuracies`` (per
    epoch), ``params``, ``flops`` (`child.nas_cnn.cost`), with
    `evaluate_test` ``test_accuracy`` and with `latency` ``latency``. Never
    raises: failures have status ``'failed'``, reward 0 and a one-line
    ``error`` (`child.outcome.run_guarded`).
  """
  return outcome.run_guarded(lambda measured: _train(
      layers, dataset, config, seed, evaluate_test, save_model_to, latency,
      measured))
