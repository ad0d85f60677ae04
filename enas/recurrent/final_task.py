"""ENAS recurrent final training as a task (§3.1): retrain a derived cell on PTB."""

from __future__ import annotations

from typing import Any

import gin


@gin.configurable
class EnasRnnFinalTask:
  """ENAS §3.1: retrain a derived recurrent cell on Penn Treebank from scratch.

  Used by `experiments.train_final`, `experiments.count_params` and
  `experiments.compare`; the settings are `enas.recurrent.final_training.RnnFinalConfig`
  (official ones in gin/enas/ptb_final.gin). `parse` accepts official arc
  strings (any number of nodes), ``paper_enas_cell`` (the cell of
  ``ptb_final.sh``) and ``lstm`` (a one-layer LSTM baseline trained the same
  way); random architectures come from ``rnn_cell_space(config.num_nodes)``.
  """

  NAMED = ("lstm", "paper_enas_cell")

  def __init__(self):
    from enas.recurrent import final_training as rnn_final  # pylint: disable=g-import-not-at-top
    from enas.recurrent import space as rnn_space  # pylint: disable=g-import-not-at-top
    self._final = rnn_final
    self.config = rnn_final.RnnFinalConfig()
    from child import latency  # pylint: disable=g-import-not-at-top
    self.latency_config = latency.LatencyConfig()
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
    return self._final.train_final_rnn(
        arc, self.config, seed, output_dir=final_dir,
        corpus=self.corpus(), latency=self.latency_config).to_record()

  def count_params(self, arc, input_shape=None, num_classes=None) -> int:
    """Parameters at the configured sizes (vocabulary `config.vocab_size`)."""
    del input_shape, num_classes
    return self._final.count_params(arc, self.config)
