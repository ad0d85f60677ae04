"""The NAS CNN child task (Zoph & Le §4.1): train a sampled CNN, reward from validation."""

from __future__ import annotations

from typing import Any

import gin

from child import datasets as _datasets  # noqa: F401  (registers OwnImagesConfig for gin bindings)
from controller import search_space as ss


@gin.configurable
class ImageClassificationTask:
  """Zoph & Le's CIFAR-style task: train a NAS CNN, reward from validation.

  The validation split is held out of the training set (§4.1: 5,000 random
  training images for CIFAR-10).
  """

  def __init__(self, dataset: str = "fashion_mnist", data_dir: str | None = None,
               num_valid: int = 5000, valid_split: str = "random",
               max_train: int | None = None, data_seed: int = 0):
    from child.nas_cnn import space as nas_cnn_space  # pylint: disable=g-import-not-at-top
    self.space = nas_cnn_space.nas_cnn_space()
    self._data_args = dict(name=dataset, data_dir=data_dir,
                           num_valid=num_valid, valid_split=valid_split,
                           max_train=max_train, seed=data_seed)
    self._data = None
    self._spaces = {self.space.meta("num_layers"): self.space}
    from child.nas_cnn import trainer  # pylint: disable=g-import-not-at-top
    self.trainer_config = trainer.ChildTrainerConfig()  # read once, from gin
    from child import latency  # pylint: disable=g-import-not-at-top
    self.latency_config = latency.LatencyConfig()

  def space_with_layers(self, num_layers: int) -> ss.SearchSpace:
    """The space with children `num_layers` deep (Zoph & Le's schedule, §4.1).

    Every other setting is the gin configuration's, as for `space`.
    """
    if num_layers not in self._spaces:
      from child.nas_cnn import space as nas_cnn_space  # pylint: disable=g-import-not-at-top
      self._spaces[num_layers] = nas_cnn_space.nas_cnn_space(
          num_layers=num_layers)
    return self._spaces[num_layers]

  def parse(self, text: str) -> ss.Architecture:
    """An architecture of `space`, or of a shallower one of the same kind.

    Children of a depth schedule are shallower than `space`; their strings
    are recognised by their length.

    Raises:
      ss.ArchitectureError: no depth up to `space`'s fits the string.
    """
    try:
      return self.space.parse(text)
    except ss.ArchitectureError:
      count = len(text.split())
      for layers in range(1, self.space.meta("num_layers")):
        if self.space_with_layers(layers).num_tokens == count:
          return self.space_with_layers(layers).parse(text)
      raise

  def dataset(self):
    if self._data is None:
      from child import datasets  # pylint: disable=g-import-not-at-top
      self._data = datasets.load_image_dataset(**self._data_args)
    return self._data

  def evaluate(self, arc: ss.Architecture, seed: int,
               final_dir: str | None = None) -> dict[str, Any]:
    """Trains the child; with `final_dir`, also tests it and saves the model
    there (``model.keras``, ``saved_model/``: `child.nas_cnn.trainer.export`)."""
    from child.nas_cnn import trainer as child_trainer  # pylint: disable=g-import-not-at-top
    from child.nas_cnn import space as nas_cnn_space  # pylint: disable=g-import-not-at-top
    result = child_trainer.train_child(
        nas_cnn_space.decode(arc), self.dataset(),
        self.trainer_config, seed,
        evaluate_test=final_dir is not None,
        save_model_to=final_dir,
        latency=self.latency_config)
    return result.to_record()

  def count_params(self, arc: ss.Architecture, input_shape, num_classes) -> int:
    """Trainable parameters of the child, without any data."""
    from child.nas_cnn import builder as nas_cnn_builder  # pylint: disable=g-import-not-at-top
    from child.nas_cnn import space as nas_cnn_space  # pylint: disable=g-import-not-at-top
    model = nas_cnn_builder.build_cnn(nas_cnn_space.decode(arc), input_shape,
                                      num_classes)
    return nas_cnn_builder.count_params(model)
