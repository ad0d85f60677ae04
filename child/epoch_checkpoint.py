"""Final training's per-epoch checkpoint, so a killed retraining resumes.

After each finished epoch, a final training (`enas.image.final_training`,
`enas.recurrent.final_training`) commits to its output directory every
variable that the rest of the training reads (weights, optimizer slots, the
dropout generators' states) and, as JSON, its counters, the NumPy generator
state and what it measured so far (`child.commit_points`, prefix
``final_checkpoint``). Started again on the same directory, it restores the
last epoch that passes its checks and goes on; the result equals that of an
uninterrupted training.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional, Sequence

import numpy as np

from child import commit_points

PREFIX = "final_checkpoint"


def _stderr(line: str) -> None:
  print(line, file=sys.stderr, flush=True)


def save(output_dir: str, epoch: int, variables: Sequence[Any],
         info: dict[str, Any],
         arrays: Optional[dict[str, np.ndarray]] = None) -> None:
  """Commits the state after 0-based `epoch`."""
  values = {f"variable_{i}": np.asarray(v) for i, v in enumerate(variables)}
  values.update({f"extra/{k}": np.asarray(v) for k, v in (arrays or {}).items()})
  commit_points.save(output_dir, PREFIX, epoch, values, dict(info, epoch=epoch))


def restore(output_dir: str, variables: Sequence[Any],
            log: Callable[[str], None] = _stderr
            ) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
  """Assigns the last good checkpoint of `output_dir` to `variables`.

  Returns:
    ``(info, extra arrays)`` as `save` received them, or None when there is
    no checkpoint (or only a corrupt first one).

  Raises:
    ValueError: the checkpoint is of another model (other variables), or it
      and the one before it are both corrupt.
  """
  try:
    saved = commit_points.load(output_dir, PREFIX, log)
  except commit_points.CommitPointError as e:
    raise ValueError(f"final training checkpoint in {output_dir}: {e}") from None
  if saved is None:
    return None
  info, values = saved
  shapes = [tuple(v.shape) for v in variables]
  stored = [values.get(f"variable_{i}") for i in range(len(variables))]
  if (any(s is None for s in stored) or f"variable_{len(variables)}" in values
      or [tuple(s.shape) for s in stored] != shapes):
    raise ValueError(f"the checkpoint in {output_dir} is of another model or "
                     "setting; use a new output directory")
  for var, value in zip(variables, stored):
    var.assign(value)
  log(f"resuming final training after epoch {info['epoch'] + 1}")
  extra = {k[len("extra/"):]: v for k, v in values.items()
           if k.startswith("extra/")}
  return info, extra
