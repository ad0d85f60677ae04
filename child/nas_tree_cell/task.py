"""The NAS recurrent-cell child task (Zoph & Le §4.2): a PTB language model on a tree cell."""

from __future__ import annotations

import dataclasses
from typing import Any

import gin
import numpy as np


@gin.configurable
class LanguageModelTask:
  """Zoph & Le §3.4: search recurrent tree cells on Penn Treebank.

  The child is a language model built on the sampled cell
  (`child.nas_tree_cell.language_model`); reward = c / valid_ppl^2. Besides architecture
  strings, `parse` accepts the fixed cells ``lstm`` (Keras LSTMCell) and
  ``paper_nas_cell`` (the published base-8 cell).
  """

  NAMED = ("lstm", "paper_nas_cell")

  def __init__(self, base: int = 8, data_dir: str | None = None):
    from child.nas_tree_cell import space as rnn_cell_space  # pylint: disable=g-import-not-at-top
    self.space = rnn_cell_space.tree_cell_space(base)
    self._data_dir = data_dir
    self._corpus = None
    from child.nas_tree_cell import language_model  # pylint: disable=g-import-not-at-top
    self.config = language_model.LanguageModelConfig()  # read once, from gin
    from child import latency  # pylint: disable=g-import-not-at-top
    self.latency_config = latency.LatencyConfig()

  def parse(self, text: str) -> Any:
    from child.nas_tree_cell import space as rnn_cell_space  # pylint: disable=g-import-not-at-top
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
    from child.nas_tree_cell import language_model  # pylint: disable=g-import-not-at-top
    config = self.config
    if final_dir is not None:
      config = dataclasses.replace(config, evaluate_test=True)
    result = language_model.train_language_model(arc, self.corpus(), config,
                                                  seed, self.latency_config,
                                                  export_dir=final_dir)
    return result.to_record()

  def count_params(self, arc, input_shape=None, num_classes=None) -> int:
    """Parameters of the language model at the configured sizes."""
    del input_shape, num_classes
    from child.nas_tree_cell import language_model  # pylint: disable=g-import-not-at-top
    from child.nas_tree_cell import cell as tree_cell  # pylint: disable=g-import-not-at-top
    config = self.config
    model = language_model.build_language_model(
        tree_cell.cell_factory(arc), 10000, config.embedding_size,
        config.hidden_size, config.num_layers, config.input_dropout,
        config.layer_dropout, config.output_dropout, config.tie_weights,
        config.init_scale, 0)
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
