"""ENAS image final training as a task (§3.2): retrain a derived macro or micro architecture."""

from __future__ import annotations

from typing import Any

import gin


@gin.configurable
class EnasImageFinalTask:
  """ENAS §3.2: retrain a derived macro or micro architecture from scratch.

  Used by `experiments.train_final`, `experiments.count_params` and
  `experiments.compare`; the settings are `enas.image.final_training.
  FinalTrainingConfig` (official ones in gin/enas/cifar10_*_final.gin).
  The config's space names the family (`enas.image.families`), which reads
  the config: the space for random architectures has
  `FinalTrainingConfig.num_nodes` nodes per cell (micro) or `num_layers`
  layers (macro), the official search sizes when unset; `parse` takes the
  size from the architecture string's length.
  """

  def __init__(self):
    from enas.image import families  # pylint: disable=g-import-not-at-top
    from enas.image import final_training  # pylint: disable=g-import-not-at-top
    self._final = final_training
    self.config = final_training.FinalTrainingConfig()
    from child import latency  # pylint: disable=g-import-not-at-top
    self.latency_config = latency.LatencyConfig()
    self.space = families.get(self.config.space).final_space(self.config)

  def parse(self, text: str):
    return self._final.parse_arc(text, self.config)

  def evaluate(self, arc, seed: int,
               final_dir: str | None = None) -> dict[str, Any]:
    return self._final.train_final_image(
        arc, self.config, seed, output_dir=final_dir,
        latency=self.latency_config).to_record()

  def count_params(self, arc, input_shape, num_classes) -> int:
    return self.parameter_counts(arc, input_shape, num_classes)["params"]

  def parameter_counts(self, arc, input_shape, num_classes) -> dict[str, int]:
    """``params`` (aux head included) and ``params_without_aux`` (what the
    official code printed)."""
    from enas.image import final_common  # pylint: disable=g-import-not-at-top
    model = self._final.build_final_model(arc, self.config, input_shape,
                                          num_classes)
    return {"params": final_common.count_params(model),
            "params_without_aux": final_common.count_params(
                model, include_aux_head=False)}
