"""Child tasks: what "evaluate this architecture" means for a NAS run.

A task owns a search space and turns one architecture into a result record
(reward, validation score, parameters, seconds, status). NAS mode (Zoph & Le
§3.2) trains each child on its own; the task is built once per worker process
and keeps its data set in memory between children.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Protocol

import gin

from controller import search_space as ss


class ChildTask(Protocol):
  """Evaluates architectures of one search space."""

  space: ss.SearchSpace

  def evaluate(self, arc: ss.Architecture, seed: int) -> dict[str, Any]:
    """Trains the child; returns a record with at least reward and status."""


@gin.configurable
class ImageClassificationTask:
  """Zoph & Le's CIFAR-style task: train a NAS CNN, reward from validation.

  The validation split is held out of the training set (§4.1: 5,000 random
  training images for CIFAR-10).
  """

  def __init__(self, dataset: str = "fashion_mnist", data_dir: str | None = None,
               num_valid: int = 5000, valid_split: str = "random",
               max_train: int | None = None, data_seed: int = 0):
    from child import nas_cnn_space  # pylint: disable=g-import-not-at-top
    self.space = nas_cnn_space.nas_cnn_space()
    self._data_args = dict(name=dataset, data_dir=data_dir,
                           num_valid=num_valid, valid_split=valid_split,
                           max_train=max_train, seed=data_seed)
    self._data = None

  def dataset(self):
    if self._data is None:
      from child import datasets  # pylint: disable=g-import-not-at-top
      self._data = datasets.load_image_dataset(**self._data_args)
    return self._data

  def evaluate(self, arc: ss.Architecture, seed: int,
               final_dir: str | None = None) -> dict[str, Any]:
    """Trains the child; with `final_dir`, also tests it and saves the model."""
    from child import child_trainer  # pylint: disable=g-import-not-at-top
    from child import nas_cnn_space  # pylint: disable=g-import-not-at-top
    result = child_trainer.train_child(
        nas_cnn_space.decode(arc), self.dataset(),
        child_trainer.ChildTrainerConfig(), seed,
        evaluate_test=final_dir is not None,
        save_model_to=(os.path.join(final_dir, "model.keras")
                       if final_dir else None))
    return dataclasses.asdict(result)

  def count_params(self, arc: ss.Architecture, input_shape, num_classes) -> int:
    """Trainable parameters of the child, without any data."""
    from child import nas_cnn_builder  # pylint: disable=g-import-not-at-top
    from child import nas_cnn_space  # pylint: disable=g-import-not-at-top
    model = nas_cnn_builder.build_cnn(nas_cnn_space.decode(arc), input_shape,
                                      num_classes)
    return nas_cnn_builder.count_params(model)


@gin.configurable
def make_task(task: str = "image_classification") -> ChildTask:
  """Builds the NAS child task named in gin."""
  if task == "image_classification":
    return ImageClassificationTask()
  if task == "language_model":
    from child import language_model  # pylint: disable=g-import-not-at-top
    return language_model.LanguageModelTask()
  raise ValueError(f"unknown task {task!r} "
                   "(use 'image_classification' or 'language_model')")
