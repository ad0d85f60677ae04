"""Trains one ENAS image architecture from scratch and tests it (§3.2).

Pham et al. 2018, §3.2: the derived architecture is retrained from scratch;
settings of the official final scripts (melodyguan/enas
``scripts/cifar10_{macro,micro}_final.sh``, see the project's reference
notes): Nesterov momentum 0.9, cosine learning rate with warm restarts
(T_0 = 10 epochs, T_mul = 2), L2 on all weights, gradient clipping of each
tensor to norm 5, the micro auxiliary head with weight 0.4, scheduled drop
path, the 4-pixel-padded random crop and flip, optionally cutout (the
official square: a random top-left corner, clipped at the bottom and right
borders), and no validation set.

Differences from the official code, on purpose: the gradient clip really
clips (official bug 2 appended the unclipped gradients; ``clip_mode`` 'none'
does as it did); the micro auxiliary head is trained (bug 6); the learning
rate moves every step (fractional epochs) where the official schedule used
whole epochs (``step // batches_per_epoch``).

`train_final_image` never raises: a non-finite loss or any exception gives a
``'failed'`` `child.outcome.Outcome` with a one-line error.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import gin
import keras
import numpy as np
import tensorflow as tf

from child import latency as latency_lib
from child import datasets as _datasets  # noqa: F401  (registers OwnImagesConfig for gin bindings)
from child import epoch_checkpoint
from child import outcome
from child import progress as bars  # `progress` is the drop-path schedule below
from child import summaries
from controller import config_check
from controller.search_space import Architecture
from enas.image import distribute
from enas.image import families
from enas.image import final_common
from enas.image import ops as image_ops
from enas.schedules import cosine_lr


@gin.configurable
@dataclasses.dataclass(frozen=True)
class FinalTrainingConfig:
  """Final training settings (defaults: the official micro final run).

  Attributes:
    space: the family, 'macro' or 'micro' (`enas.image.families`).
    dataset: an image data set of `child.datasets.load_image_dataset`.
    data_dir: where its files are (None: the usual places).
    num_valid: validation images held out of the training set (0: none, as
      the official final runs).
    max_train: keep only this many training images (None: all).
    max_test: keep only this many test images (None: all).
    batch_size: training minibatch.
    eval_batch_size: minibatch for validation and test.
    epochs: training epochs.
    lr_max: cosine schedule maximum.
    lr_min: cosine schedule minimum.
    lr_t0: first cosine period, in epochs.
    lr_tmul: period multiplier at each restart.
    l2: coefficient of ``sum(w^2)`` over all trainable weights.
    momentum: Nesterov momentum.
    grad_bound: the gradient clip's norm bound (0 = none).
    augment: random crop of the 4-pixel zero-padded image and random
      horizontal flip.
    cutout_size: side of the square zeroed in every training image at a
      uniformly random top-left corner, clipped at the borders, as the
      official code (0 = off; 16 for the paper's 2.89% CIFAR-10 result).
    aux_weight: weight of the micro auxiliary head's loss (0 = no head).
    num_layers: micro: N normal cells; macro: layers, which must match the
      architecture if given (None: 15 for micro, the arc's length for macro).
    num_nodes: micro nodes per cell (None: from the arc's length).
    out_filters: F of the first stage.
    keep_prob: dropout keep probability before the classifier.
    drop_path_keep_prob: micro drop-path keep probability (None = off).
    micro_cell_output: micro cell layout (`enas.micro.final_model`):
      'concat', the official fixed cell (melodyguan/enas 4bcfd73
      ``_fixed_layer``: a ReLU-conv1x1-BN ``layer_base`` on the second input,
      output the bare concatenation of the loose ends), or 'conv1x1' (no
      ``layer_base``, the concatenation projected to F_c by ReLU-conv1x1-BN,
      as the search cell of §2.4).
    clip_mode: 'norm' (each tensor to `grad_bound`: what the official
      ``clip_mode="norm"`` meant), 'global' (global norm) or 'none' (what
      the official code did); `enas.image.ops.clip_gradients`.
  """

  space: str = "micro"
  dataset: str = "cifar10"
  data_dir: str | None = None
  num_valid: int = 0
  max_train: int | None = None
  max_test: int | None = None
  batch_size: int = 144
  eval_batch_size: int = 100
  epochs: int = 630
  lr_max: float = 0.05
  lr_min: float = 1e-4
  lr_t0: float = 10.0
  lr_tmul: float = 2.0
  l2: float = 2e-4
  momentum: float = 0.9
  grad_bound: float = 5.0
  augment: bool = True
  cutout_size: int = 0
  aux_weight: float = 0.4
  num_layers: int | None = None
  num_nodes: int | None = None
  out_filters: int = 36
  keep_prob: float = 0.8
  drop_path_keep_prob: float | None = 0.6
  micro_cell_output: str = "concat"
  clip_mode: str = "norm"

  def __post_init__(self):
    config_check.check(
        self, positive=("max_train", "max_test", "batch_size",
                        "eval_batch_size", "epochs", "lr_t0", "lr_tmul",
                        "num_layers", "num_nodes", "out_filters"),
        non_negative=("num_valid", "lr_max", "lr_min", "l2", "momentum",
                      "grad_bound", "cutout_size", "aux_weight"),
        unit=("keep_prob", "drop_path_keep_prob"))
    image_ops.check_clip_mode(self.clip_mode, "FinalTrainingConfig.clip_mode")


def parse_arc(arc: Any, config: FinalTrainingConfig) -> Architecture:
  """The `Architecture` of `arc` (text, tokens or Architecture) in the
  config's space; the space's size follows from the arc's length.

  Raises:
    ConfigError: the config's space is no ENAS image family.
    ArchitectureError: `arc` is not an architecture of that family.
  """
  return families.get(config.space).parse_final_arc(arc, config)


def build_final_model(arc: Architecture, config: FinalTrainingConfig,
                      input_shape, num_classes: int) -> keras.Model:
  """The final model of `arc` with the config's model settings."""
  family = families.get(config.space)
  return family.build_final_model(arc, input_shape=input_shape,
                                  num_classes=num_classes,
                                  **family.final_settings(config))


def augment_batch(images: np.ndarray, rng: np.random.Generator, *,
                  crop_flip: bool, cutout_size: int) -> np.ndarray:
  """Pad-4 random crop + horizontal flip, then cutout (official order).

  Cutout as the official code (melodyguan/enas 4bcfd73, ``models.py``
  ``_pre_process``): a corner ``(y, x)`` uniform over the image's pixels,
  then rows ``y .. y + size - 1`` and columns ``x .. x + size - 1`` zeroed,
  the square clipped at the bottom and right borders; so the square is whole
  only for corners up to ``H - size``, and it reaches past the top-left
  corner of no image. (DeVries & Taylor 2017 centre the square at the random
  pixel instead.)
  """
  n, h, w, _ = images.shape
  out = images.copy()
  if crop_flip:
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
    ys, xs = rng.integers(0, 9, n), rng.integers(0, 9, n)
    flips = rng.random(n) < 0.5
    for i in range(n):
      crop = padded[i, ys[i]:ys[i] + h, xs[i]:xs[i] + w]
      out[i] = crop[:, ::-1] if flips[i] else crop
  if cutout_size > 0:
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    for i in range(n):
      out[i, ys[i]:ys[i] + cutout_size, xs[i]:xs[i] + cutout_size] = 0.0
  return out


def _make_steps(model, config: FinalTrainingConfig, input_shape,
                dist: distribute.Distribution | None = None):
  """Compiled train and eval steps and the optimizer's momentum slots.

  With several replicas (`enas.image.distribute`) the train step takes the
  global batch and splits it; build the model and call this in the scope.
  """
  variables = model.trainable_weights
  sgd = image_ops.NesterovMomentum(variables, config.momentum)
  images_spec = tf.TensorSpec([None, *input_shape], tf.float32)
  labels_spec = tf.TensorSpec([None], tf.int32)

  def cross_entropy(labels, logits):
    return distribute.local_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))

  def train_step(images, labels, learning_rate):
    with tf.GradientTape() as tape:
      logits, aux = final_common.split_outputs(model(images, training=True))
      loss = cross_entropy(labels, logits)
      objective = loss
      if aux is not None and config.aux_weight:
        objective += config.aux_weight * cross_entropy(labels, aux)
      if config.l2:
        objective += distribute.per_replica_share(config.l2 * tf.add_n(
            [tf.reduce_sum(tf.square(v)) for v in variables]))
    grads = tape.gradient(objective, variables)
    grads = distribute.replica_sum(
        [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
         for g, v in zip(grads, variables)])
    grads, _ = image_ops.clip_gradients(grads, config.clip_mode,
                                        config.grad_bound)
    sgd.apply(grads, variables, learning_rate)
    return distribute.replica_sum(loss)

  if dist is not None and dist.num_replicas > 1:
    train_step = dist.wrap_step(train_step, num_batch_args=2)
  else:
    train_step = tf.function(train_step, input_signature=(
        images_spec, labels_spec, tf.TensorSpec([], tf.float32)))

  @tf.function(input_signature=(images_spec, labels_spec))
  def eval_step(images, labels):
    logits, _ = final_common.split_outputs(model(images, training=False))
    predictions = tf.argmax(logits, axis=1, output_type=tf.int32)
    correct = tf.reduce_sum(tf.cast(tf.equal(predictions, labels), tf.int32))
    return correct, tf.reduce_all(tf.math.is_finite(logits))

  return train_step, eval_step, sgd.slots


def _accuracy(eval_step, images, labels, batch_size: int) -> float:
  if not len(images):
    raise ValueError("no images to evaluate")
  correct = 0
  for start in range(0, len(images), batch_size):
    c, finite = eval_step(images[start:start + batch_size],
                          labels[start:start + batch_size])
    if not bool(finite):
      raise FloatingPointError("non-finite logits at evaluation")
    correct += int(c)
  return correct / len(images)


def _train(arc, config: FinalTrainingConfig, seed: int, output_dir,
           latency: latency_lib.LatencyConfig | None,
           record: dict[str, Any]) -> str:
  """Builds, trains and tests; fills `record`; returns an error line or ''."""
  from child import datasets  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(seed)
  rng = np.random.default_rng(seed)
  arch = parse_arc(arc, config)
  data = datasets.load_image_dataset(
      config.dataset, data_dir=config.data_dir, num_valid=config.num_valid,
      max_train=config.max_train, max_test=config.max_test)
  input_shape = data.input_shape
  dist = distribute.DistributeConfig().make()
  with dist.scope():
    model = build_final_model(arch, config, input_shape, data.num_classes)
    train_step, eval_step, slots = _make_steps(model, config, input_shape,
                                               dist)
  record["params"] = final_common.count_params(model)
  record["params_without_aux"] = final_common.count_params(
      model, include_aux_head=False)
  state = list(model.variables) + list(slots)
  x_train = np.asarray(data.x_train, np.float32)
  y_train = np.asarray(data.y_train, np.int32)
  n = len(x_train)
  steps_per_epoch = math.ceil(n / config.batch_size)
  total_steps = steps_per_epoch * config.epochs
  progress = getattr(model, "progress", None)
  step, first_epoch = 0, 0
  if output_dir:
    os.makedirs(output_dir, exist_ok=True)
  resumed = output_dir and epoch_checkpoint.restore(output_dir, state)
  if resumed:
    info, _ = resumed
    first_epoch, step = info["epoch"] + 1, info["global_step"]
    rng.bit_generator.state = info["rng"]
    for key in ("train_losses", "valid_accuracies"):
      record[key][:] = info[key]
  for epoch in bars.track(range(first_epoch, config.epochs), "final epoch", unit="epoch"):
    order = rng.permutation(n)
    losses = []
    for start in bars.track(range(0, n, config.batch_size), "step", unit="step"):
      index = order[start:start + config.batch_size]
      images = x_train[index]
      if config.augment or config.cutout_size:
        images = augment_batch(images, rng, crop_flip=config.augment,
                               cutout_size=config.cutout_size)
      lr = cosine_lr(step / steps_per_epoch, config.lr_max, config.lr_min,
                     config.lr_t0, config.lr_tmul)
      if progress is not None:
        progress.assign((step + 1) / total_steps)
      losses.append(train_step(images, y_train[index], lr))
      step += 1
    mean_loss = float(tf.reduce_mean(tf.stack(losses)))
    if not math.isfinite(mean_loss):
      return f"non-finite training loss in epoch {epoch + 1}"
    record["train_losses"].append(mean_loss)
    if len(data.x_valid):
      record["valid_accuracies"].append(_accuracy(
          eval_step, data.x_valid, data.y_valid, config.eval_batch_size))
    summaries.epoch(epoch + 1, train_loss=mean_loss, lr=lr, valid_accuracy=(record["valid_accuracies"] or [None])[-1])
    if output_dir:
      epoch_checkpoint.save(output_dir, epoch, state, {
          "global_step": step, "rng": rng.bit_generator.state,
          "train_losses": record["train_losses"],
          "valid_accuracies": record["valid_accuracies"]})
  record["test_accuracy"] = _accuracy(eval_step, data.x_test, data.y_test,
                                      config.eval_batch_size)
  if output_dir:
    os.makedirs(output_dir, exist_ok=True)
    model.save_weights(os.path.join(output_dir, "model.weights.h5"))
    final_common.export_final_model(model, output_dir)
  if latency is not None and latency.runs > 0:
    batch = tf.constant(np.asarray(data.x_test[:latency.batch_size],
                                   np.float32))
    forward = tf.function(lambda x: final_common.split_outputs(
        model(x, training=False))[0])
    record["latency"] = latency_lib.median_seconds(
        lambda: forward(batch).numpy(), latency.runs)
  return ""


def train_final_image(arc: Any, config: FinalTrainingConfig, seed: int,
                      output_dir: str | None = None,
                      latency: latency_lib.LatencyConfig | None = None
                      ) -> outcome.Outcome:
  """Retrains an ENAS image architecture from scratch and tests it (§3.2).

  Args:
    arc: an `Architecture` of the config's space, its tokens or its text.
    config: the training settings.
    seed: seeds weights, dropout, drop path, data order and augmentation.
    output_dir: if given, the trained model goes there: weights in
      ``model.weights.h5`` (rebuild the model with `build_final_model` to
      load them), the whole model in ``model.keras`` and a SavedModel
      (images -> logits) in ``saved_model/``
      (`enas.image.final_common.export_final_model`), and a checkpoint
      after each epoch (`child.epoch_checkpoint`): a training started
      again on the same directory resumes from it and ends as an
      uninterrupted one.
    latency: with ``runs > 0``, also time the trained model's inference
      forward pass on a test batch (``latency``, `child.latency`).

  Returns:
    An `Outcome` (no reward): ``test_accuracy`` (None if failed),
    ``valid_accuracy`` (last epoch's; None without a validation set or if
    failed), ``valid_accuracies``, ``train_losses`` (per epoch), ``params``
    (trainable, aux head included), ``params_without_aux`` (as the official
    code printed), ``seconds``, ``error`` (one line, '' if ok). Never raises
    (`child.outcome.run_guarded`).
  """

  def train(measured: dict[str, Any]) -> str:
    measured.update(params=0, params_without_aux=0, train_losses=[],
                    valid_accuracies=[])
    error = _train(arc, config, seed, output_dir, latency, measured)
    if measured["valid_accuracies"]:
      measured["valid_accuracy"] = measured["valid_accuracies"][-1]
    return error

  return outcome.run_guarded(train)
