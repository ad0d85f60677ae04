"""What the ENAS final models share (Pham et al. 2018, §3.2).

The final models retrain one derived architecture from scratch (§3.2); each
family has its own (`enas.macro.final_model`, `enas.micro.final_model`).
Here: their parameter count (`count_params`), scheduled drop path
(`DropPath`), the split of a model's output into logits and auxiliary
logits (`split_outputs`) and the export for serving (`export_final_model`).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def count_params(model: keras.Model, *, include_aux_head: bool = True) -> int:
  """Trainable parameters of `model`.

  Args:
    model: any Keras model (a final model, after construction).
    include_aux_head: count the micro auxiliary head too. The official code
      printed the count without it (its aux head was outside the variable
      list it counted).
  """
  skip = set()
  aux = getattr(model, "aux_head", None)
  if not include_aux_head and aux is not None:
    skip = {id(w) for w in aux.trainable_weights}
  return int(sum(np.prod(w.shape) for w in model.trainable_weights
                 if id(w) not in skip))


@keras.saving.register_keras_serializable(package="rlnas")
class DropPath(keras.layers.Layer):
  """Scheduled drop path of one micro cell (official ``_apply_drop_path``).

  While training, a branch output is zeroed per example with probability
  ``1 - keep`` and otherwise scaled by ``1 / keep``, where

    keep_layer = 1 - (layer + 1) / num_cells * (1 - keep_prob)
    keep       = 1 - min(progress, 1) * (1 - keep_layer)

  so deeper cells drop more, and dropping ramps up linearly with training
  progress (the official code used ``(global_step + 1) / total_steps``).
  Identity at inference, and whenever ``keep`` is 1.
  """

  def __init__(self, keep_prob: float, layer: int, num_cells: int, **kwargs):
    """Args: the base keep probability, the cell index, N + 2 cells."""
    super().__init__(**kwargs)
    if not 0.0 < keep_prob <= 1.0:
      raise ValueError(
          f"drop path keep_prob must be in (0, 1], got {keep_prob}")
    self.keep_prob = keep_prob
    self.layer = layer
    self.num_cells = num_cells
    # Its state is a model variable: a per-epoch checkpoint resumes the
    # drop-path stream exactly.
    self.seeds = keras.random.SeedGenerator()
    self.layer_keep = 1.0 - (layer + 1) / num_cells * (1.0 - keep_prob)
    self.built = True

  def get_config(self):
    return {**super().get_config(), "keep_prob": self.keep_prob,
            "layer": self.layer, "num_cells": self.num_cells}

  def keep(self, progress) -> tf.Tensor:
    """The keep probability at training `progress` (0 = start, 1 = end)."""
    ratio = tf.clip_by_value(tf.cast(progress, tf.float32), 0.0, 1.0)
    return 1.0 - ratio * (1.0 - self.layer_keep)

  def call(self, x, progress=0.0, training=False):
    """Drops whole examples of `x` while training; `progress` in [0, 1]."""
    if not training or self.keep_prob >= 1.0:
      return x
    keep = self.keep(progress)
    batch = tf.shape(x)[0]
    mask = tf.floor(keep + keras.random.uniform([batch, 1, 1, 1], dtype=x.dtype,
                                                seed=self.seeds))
    return x / keep * mask


def export_final_model(model: keras.Model, output_dir: str) -> dict[str, str]:
  """Writes ``model.keras`` and ``saved_model/`` of a final model to `output_dir`.

  The SavedModel's ``serving_default`` signature maps ``images`` (float32
  ``[batch, H, W, C]``, normalised as the training data) to ``logits``
  (``[batch, num_classes]``, inference mode: moving batch-norm statistics,
  no dropout or drop path, the auxiliary head left out); see `child.export`.

  Returns:
    ``{'keras': path, 'saved_model': path}``.
  """
  from child import export  # pylint: disable=g-import-not-at-top
  spec = tf.TensorSpec([None, *model.image_shape], tf.float32, name="images")

  def serve(images):
    logits, _ = split_outputs(model(images, training=False))
    return {"logits": logits}

  return export.export_keras_model(model, output_dir, {"serve": (serve, [spec])})


def split_outputs(outputs) -> tuple[tf.Tensor, tf.Tensor | None]:
  """``(logits, aux_logits or None)`` from a final model's output."""
  if isinstance(outputs, (tuple, list)):
    return outputs[0], outputs[1]
  return outputs, None
