"""Child tasks: what "evaluate this architecture" means for a NAS run.

A task owns a search space and turns one architecture into a result record
(reward, validation score, parameters, seconds, status). NAS mode (Zoph & Le
§3.2) trains each child on its own; the task is built once per worker process
and keeps its data set in memory between children.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Protocol

import gin
import numpy as np

from controller import search_space as ss


class ChildTask(Protocol):
  """Evaluates architectures of one search space."""

  space: ss.SearchSpace

  def parse(self, text: str) -> Any:
    """An architecture string (or a named fixed architecture) to evaluate."""

  def evaluate(self, arc: ss.Architecture, seed: int,
               final_dir: str | None = None) -> dict[str, Any]:
    """Trains the child; returns a record with at least reward and status.

    With `final_dir` (final training) it also measures the test set and may
    save the model there.
    """


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
    self._spaces = {self.space.meta("num_layers"): self.space}

  def space_with_layers(self, num_layers: int) -> ss.SearchSpace:
    """The space with children `num_layers` deep (Zoph & Le's schedule, §4.1).

    Every other setting is the gin configuration's, as for `space`.
    """
    if num_layers not in self._spaces:
      from child import nas_cnn_space  # pylint: disable=g-import-not-at-top
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


def _finite_or_none(record: dict[str, Any]) -> dict[str, Any]:
  """JSON has no infinity: a perplexity that could not be computed is null."""
  return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
          for k, v in record.items()}


@gin.configurable
class LanguageModelTask:
  """Zoph & Le §3.4: search recurrent tree cells on Penn Treebank.

  The child is a language model built on the sampled cell
  (`child.language_model`); reward = c / valid_ppl^2. Besides architecture
  strings, `parse` accepts the fixed cells ``lstm`` (Keras LSTMCell) and
  ``paper_nas_cell`` (the published base-8 cell).
  """

  NAMED = ("lstm", "paper_nas_cell")

  def __init__(self, base: int = 8, data_dir: str | None = None):
    from child import rnn_cell_space  # pylint: disable=g-import-not-at-top
    self.space = rnn_cell_space.tree_cell_space(base)
    self._data_dir = data_dir
    self._corpus = None

  def parse(self, text: str) -> Any:
    from child import rnn_cell_space  # pylint: disable=g-import-not-at-top
    if text.strip() == "lstm":
      return "lstm"
    if text.strip() == "paper_nas_cell":
      return rnn_cell_space.paper_nas_cell_spec().to_architecture()
    return self.space.parse(text)

  def corpus(self):
    if self._corpus is None:
      from child import datasets  # pylint: disable=g-import-not-at-top
      self._corpus = datasets.load_ptb(self._data_dir)
    return self._corpus

  def evaluate(self, arc, seed: int,
               final_dir: str | None = None) -> dict[str, Any]:
    from child import language_model  # pylint: disable=g-import-not-at-top
    config = language_model.LanguageModelConfig()
    if final_dir is not None:
      config = dataclasses.replace(config, evaluate_test=True)
    result = language_model.train_language_model(arc, self.corpus(), config,
                                                  seed)
    return _finite_or_none(dataclasses.asdict(result))

  def count_params(self, arc, input_shape=None, num_classes=None) -> int:
    """Parameters of the language model at the configured sizes."""
    del input_shape, num_classes
    from child import language_model  # pylint: disable=g-import-not-at-top
    from child import tree_cell  # pylint: disable=g-import-not-at-top
    config = language_model.LanguageModelConfig()
    model = language_model.build_language_model(
        tree_cell.cell_factory(arc), 10000, config.embedding_size,
        config.hidden_size, config.num_layers, config.input_dropout,
        config.layer_dropout, config.output_dropout, config.tie_weights,
        config.init_scale, 0)
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


@gin.configurable
class EnasImageFinalTask:
  """ENAS §3.2: retrain a derived macro or micro architecture from scratch.

  Used by `experiments.train_final`, `experiments.count_params` and
  `experiments.compare`; the settings are `enas.final_training.
  FinalTrainingConfig` (official ones in gin/enas/cifar10_*_final.gin).
  The space (for random architectures) has `FinalTrainingConfig.num_nodes`
  nodes per cell (micro) or `num_layers` layers (macro), the official sizes
  when unset; `parse` takes the size from the architecture string's length.
  """

  def __init__(self):
    from enas import final_training  # pylint: disable=g-import-not-at-top
    from enas import image_spaces  # pylint: disable=g-import-not-at-top
    self._final = final_training
    self.config = final_training.FinalTrainingConfig()
    config = self.config
    if config.space == "macro":
      self.space = image_spaces.macro_space(config.num_layers or 12)
    else:
      self.space = image_spaces.micro_space(config.num_nodes or 5)

  def parse(self, text: str):
    return self._final.parse_arc(text, self.config)

  def evaluate(self, arc, seed: int,
               final_dir: str | None = None) -> dict[str, Any]:
    return _finite_or_none(self._final.train_final_image(
        arc, self.config, seed, output_dir=final_dir))

  def count_params(self, arc, input_shape, num_classes) -> int:
    from child import nas_cnn_builder  # pylint: disable=g-import-not-at-top
    model = self._final.build_final_model(arc, self.config, input_shape,
                                          num_classes)
    return nas_cnn_builder.count_params(model)


@gin.configurable
class EnasRnnFinalTask:
  """ENAS §3.1: retrain a derived recurrent cell on Penn Treebank from scratch.

  Used by `experiments.train_final`, `experiments.count_params` and
  `experiments.compare`; the settings are `enas.rnn_final.RnnFinalConfig`
  (official ones in gin/enas/ptb_final.gin). `parse` accepts official arc
  strings (any number of nodes), ``paper_enas_cell`` (the cell of
  ``ptb_final.sh``) and ``lstm`` (a one-layer LSTM baseline trained the same
  way); random architectures come from ``rnn_cell_space(config.num_nodes)``.
  """

  NAMED = ("lstm", "paper_enas_cell")

  def __init__(self):
    from enas import rnn_final  # pylint: disable=g-import-not-at-top
    from enas import rnn_space  # pylint: disable=g-import-not-at-top
    self._final = rnn_final
    self.config = rnn_final.RnnFinalConfig()
    self.space = rnn_space.rnn_cell_space(self.config.num_nodes)
    self._corpus = None

  def parse(self, text: str):
    return self._final.parse_arc(text)

  def corpus(self):
    if self._corpus is None:
      from child import datasets  # pylint: disable=g-import-not-at-top
      self._corpus = datasets.load_ptb(self.config.data_dir)
    return self._corpus

  def evaluate(self, arc, seed: int,
               final_dir: str | None = None) -> dict[str, Any]:
    return _finite_or_none(self._final.train_final_rnn(
        arc, self.config, seed, output_dir=final_dir, corpus=self.corpus()))

  def count_params(self, arc, input_shape=None, num_classes=None) -> int:
    """Parameters at the configured sizes (vocabulary `config.vocab_size`)."""
    del input_shape, num_classes
    return self._final.count_params(arc, self.config)


@gin.configurable
def make_task(task: str = "image_classification") -> ChildTask:
  """Builds the NAS child task named in gin."""
  if task == "image_classification":
    return ImageClassificationTask()
  if task == "language_model":
    return LanguageModelTask()
  if task == "enas_image_final":
    return EnasImageFinalTask()
  if task == "enas_rnn_final":
    return EnasRnnFinalTask()
  raise ValueError(f"unknown task {task!r} (use 'image_classification', "
                   "'language_model', 'enas_image_final' or 'enas_rnn_final')")
