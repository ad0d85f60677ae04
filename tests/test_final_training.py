"""Specification of ENAS image final training (§3.2).

Tiny models on the digits data set: the training loop, its records, and that
the config's space names the family whose parser and model it uses.
"""

import dataclasses

import numpy as np
import pytest

from controller.errors import ConfigError
from enas.image import final_training as ft
from enas.macro import space as macro_space
from enas.micro import space as micro_space


CONFIG = ft.FinalTrainingConfig(
    space="micro", dataset="digits", num_valid=200, batch_size=64, epochs=1,
    num_layers=1, out_filters=4, aux_weight=0.0, augment=False,
    keep_prob=1.0)


def test_train_final_image_on_digits_is_ok(tmp_path):
  result = ft.train_final_image(micro_space.PAPER_MICRO_ARC, CONFIG, seed=0,
                                output_dir=str(tmp_path))
  assert result.status == "ok", result.error
  assert 0.0 <= result.test_accuracy <= 1.0
  assert result.valid_accuracy == result.valid_accuracies[-1]
  assert 0.0 <= result.valid_accuracy <= 1.0
  assert result.params > 0 and result.error == ""
  assert (tmp_path / "model.weights.h5").exists()
  assert (tmp_path / "model.keras").exists()
  assert (tmp_path / "saved_model" / "saved_model.pb").exists()


def test_train_final_image_reports_divergence_without_raising():
  # (A per-tensor clip zeroes a gradient whose norm overflows, as
  # tf.clip_by_norm, so it can survive this; the global clip cannot.)
  config = dataclasses.replace(CONFIG, lr_max=1e30, lr_min=1e30, max_train=256,
                               clip_mode="global")
  result = ft.train_final_image(micro_space.PAPER_MICRO_ARC, config, seed=0)
  assert result.status == "failed"
  assert result.test_accuracy is None
  assert "\n" not in result.error and result.error
  assert result.params > 0   # measured before it diverged


def test_train_final_image_rejects_a_macro_layer_mismatch_as_failed():
  config = dataclasses.replace(CONFIG, space="macro", num_layers=12)
  result = ft.train_final_image(macro_space.PAPER_MACRO_ARC, config, seed=0)
  assert result.status == "failed" and "24 layers" in result.error


def test_cutout_zeroes_at_most_a_size_by_size_square():
  images = np.ones((4, 16, 16, 1), np.float32)
  out = ft.augment_batch(images, np.random.default_rng(0), crop_flip=False,
                         cutout_size=8)
  zeros = (out == 0).reshape(4, -1).sum(1)
  assert np.all((zeros > 0) & (zeros <= 64))


def test_the_configs_space_names_the_family_that_parses_the_arc():
  macro = dataclasses.replace(CONFIG, space="macro", num_layers=None)
  arc = ft.parse_arc(macro_space.PAPER_MACRO_ARC, macro)
  assert arc.space.name == macro_space.MACRO_SPACE_NAME
  assert arc.space.meta("num_layers") == 24
  micro = ft.parse_arc(micro_space.PAPER_MICRO_ARC, CONFIG)
  assert micro.space.name == micro_space.MICRO_SPACE_NAME
  assert micro.to_string() == micro_space.PAPER_MICRO_ARC


def test_a_set_node_count_must_match_the_micro_arc():
  config = dataclasses.replace(CONFIG, num_nodes=3)
  with pytest.raises(ValueError):
    ft.parse_arc(micro_space.PAPER_MICRO_ARC, config)


def test_an_unknown_space_is_a_config_error():
  config = dataclasses.replace(CONFIG, space="nope")
  with pytest.raises(ConfigError, match="nope"):
    ft.parse_arc(micro_space.PAPER_MICRO_ARC, config)


def test_cutout_zeroes_the_official_square_from_a_random_top_left_corner():
  # melodyguan/enas 4bcfd73 models.py _pre_process: the corner is uniform over
  # the pixels, the square runs down and right from it, clipped at the
  # borders: never larger than size x size, often cut by the border, and
  # every pixel is a corner for some draws.
  n, side, size = 3000, 8, 4
  out = ft.augment_batch(np.ones((n, side, side, 1), np.float32),
                         np.random.default_rng(0), crop_flip=False,
                         cutout_size=size)
  corners = set()
  for image in out[..., 0]:
    rows, cols = np.nonzero(image == 0)
    y, x = rows.min(), cols.min()
    corners.add((y, x))
    height, width = min(size, side - y), min(size, side - x)
    assert rows.max() == y + height - 1 and cols.max() == x + width - 1
    assert len(rows) == height * width  # one whole (clipped) rectangle
  assert corners == {(y, x) for y in range(side) for x in range(side)}
