"""Specification of child training and the reward (Zoph & Le §3.2)."""

import dataclasses
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gin  # pylint: disable=g-import-not-at-top
import numpy as np
import pytest

from child.nas_cnn.builder import ConvLayer
from child.nas_cnn.trainer import (ChildTrainerConfig, reward_from_accuracies,
                                   train_child)
from child.outcome import Outcome


@dataclasses.dataclass(frozen=True)
class TinyDataset:
  x_train: np.ndarray
  y_train: np.ndarray
  x_valid: np.ndarray
  y_valid: np.ndarray
  input_shape: tuple[int, int, int] = (8, 8, 1)
  num_classes: int = 4


def quadrant_images(n, rng):
  """8x8 noise with a bright 4x4 quadrant; the label is the quadrant."""
  labels = rng.integers(0, 4, n).astype(np.int32)
  images = rng.normal(0.0, 0.5, size=(n, 8, 8, 1)).astype(np.float32)
  for image, label in zip(images, labels):
    row, col = divmod(int(label), 2)
    image[4 * row:4 * row + 4, 4 * col:4 * col + 4] += 2.0
  return images, labels


def tiny_dataset(num_train=256, num_valid=128, seed=0):
  rng = np.random.default_rng(seed)
  x_train, y_train = quadrant_images(num_train, rng)
  x_valid, y_valid = quadrant_images(num_valid, rng)
  return TinyDataset(x_train, y_train, x_valid, y_valid)


LAYERS = (ConvLayer(3, 3, 24, 1), ConvLayer(3, 3, 24, 2, inputs=(0,)),
          ConvLayer(3, 3, 24, 1, "max_pool", inputs=(0, 1)))
QUICK = ChildTrainerConfig(epochs=2, batch_size=32)


def test_reward_is_the_best_of_the_last_k_accuracies_cubed():
  accuracies = [0.5, 0.6, 0.9, 0.7, 0.8, 0.85]
  assert reward_from_accuracies(accuracies, 5, 3.0) == pytest.approx(0.9 ** 3)
  # The first epoch is outside the window of the last 5.
  assert reward_from_accuracies([0.95] + accuracies[1:], 5, 3.0) == (
      pytest.approx(0.9 ** 3))
  assert reward_from_accuracies(accuracies, 1, 3.0) == pytest.approx(0.85 ** 3)


def test_reward_uses_every_epoch_when_fewer_than_k():
  assert reward_from_accuracies([0.4, 0.3], 5, 2.0) == pytest.approx(0.16)


def test_reward_of_no_epochs_is_an_error():
  with pytest.raises(ValueError):
    reward_from_accuracies([], 5, 3.0)


def test_config_defaults_follow_the_paper_and_gin_can_bind_them():
  assert ChildTrainerConfig().epochs == 50
  assert ChildTrainerConfig().reward_last_k == 5
  assert ChildTrainerConfig().reward_power == 3.0
  try:
    gin.parse_config("ChildTrainerConfig.epochs = 3")
    assert ChildTrainerConfig().epochs == 3
  finally:
    gin.clear_config()


def test_a_short_run_succeeds_and_scores_its_best_recent_accuracy():
  result = train_child(LAYERS, tiny_dataset(), QUICK, seed=1)
  assert isinstance(result, Outcome)
  assert result.status == "ok", result.error
  assert result.error == ""
  assert len(result.valid_accuracies) == 2
  assert result.valid_accuracy == max(result.valid_accuracies)
  assert result.reward == pytest.approx(result.valid_accuracy ** 3)
  assert 0.0 <= result.reward <= 1.0
  assert result.params > 0
  assert result.seconds > 0
  assert result.test_accuracy is None  # a search never looks at the test set


def test_training_learns_an_easy_task():
  config = ChildTrainerConfig(epochs=4, batch_size=32, learning_rate=0.05)
  result = train_child(LAYERS, tiny_dataset(), config, seed=0)
  assert result.status == "ok", result.error
  assert result.valid_accuracy > 0.6  # chance is 0.25


@pytest.mark.parametrize("augment", [False, True])
def test_equal_seeds_give_equal_accuracies(augment):
  config = dataclasses.replace(QUICK, augment=augment, dropout=0.2)
  data = tiny_dataset()
  first = train_child(LAYERS, data, config, seed=7)
  second = train_child(LAYERS, data, config, seed=7)
  assert first.status == second.status == "ok"
  assert first.valid_accuracies == second.valid_accuracies
  assert first.params == second.params


def test_batches_per_epoch_can_be_capped():
  config = dataclasses.replace(QUICK, max_train_batches_per_epoch=1)
  result = train_child(LAYERS, tiny_dataset(), config, seed=0)
  assert result.status == "ok", result.error
  assert len(result.valid_accuracies) == 2


def test_a_diverging_child_fails_with_zero_reward():
  config = dataclasses.replace(QUICK, learning_rate=1e30)
  result = train_child(LAYERS, tiny_dataset(), config, seed=0)
  assert result.status == "failed"
  assert result.reward == 0.0
  assert result.error.startswith("non-finite")
  assert result.params > 0
  assert result.valid_accuracy is None  # a failed child has no score


def test_non_finite_inputs_fail_at_the_first_epoch():
  data = tiny_dataset()
  x_train = data.x_train.copy()
  x_train[3, 2, 2, 0] = np.nan
  data = dataclasses.replace(data, x_train=x_train)
  result = train_child(LAYERS, data, QUICK, seed=0)
  assert result.status == "failed"
  assert result.reward == 0.0
  assert result.error == "non-finite loss at epoch 1"
  assert result.valid_accuracies == ()


def test_an_unbuildable_child_fails_with_a_one_line_error():
  bad = (ConvLayer(3, 3, 24, 1, inputs=(1,)),)
  result = train_child(bad, tiny_dataset(), QUICK, seed=0)
  assert result.status == "failed"
  assert result.reward == 0.0
  assert result.params == 0
  assert "ValueError" in result.error and "\n" not in result.error


def test_an_empty_validation_set_fails_instead_of_raising():
  data = tiny_dataset()
  data = dataclasses.replace(data, x_valid=data.x_valid[:0],
                             y_valid=data.y_valid[:0])
  result = train_child(LAYERS, data, QUICK, seed=0)
  assert result.status == "failed"
  assert "validation set is empty" in result.error


def test_the_task_returns_the_outcome_as_a_json_record():
  from child.nas_cnn import task as cnn_task  # pylint: disable=g-import-not-at-top
  try:
    gin.parse_config("ChildTrainerConfig.epochs = 1")
    task = cnn_task.ImageClassificationTask()  # reads its settings once
    task._data = tiny_dataset()
    one_layer = task.space_with_layers(1)
    arc = one_layer.from_tokens([0] * one_layer.num_tokens)
    record = task.evaluate(arc, seed=0)
  finally:
    gin.clear_config()
  assert record["status"] == "ok", record["error"]
  assert record["valid_accuracies"] == [record["valid_accuracy"]]
  assert record["reward"] == pytest.approx(record["valid_accuracy"] ** 3)
  assert json.loads(json.dumps(record, allow_nan=False)) == record
