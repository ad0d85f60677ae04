"""A supergraph's checkpoint as plain arrays (for `runner.run_dir`'s npz).

The shared-weight evaluators save everything a resumed search needs (weights,
optimizer slots, the dropout generator's state: ``checkpoint_variables()``)
after each epoch; the order of the variables is the key.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def variables_state(variables: Sequence[Any]) -> dict[str, np.ndarray]:
  """``weight_<i>`` -> the value of variable i."""
  return {f"weight_{i}": np.asarray(v) for i, v in enumerate(variables)}


def restore_variables(variables: Sequence[Any],
                      arrays: dict[str, np.ndarray]) -> None:
  """Assigns what `variables_state` saved, in the same order."""
  for i, var in enumerate(variables):
    var.assign(arrays[f"weight_{i}"])
