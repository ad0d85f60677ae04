"""Small statistics for the tables: mean ± std over seeds, Kendall's tau."""

from __future__ import annotations

import math
import statistics
from typing import Sequence


def mean_std(values: Sequence[float]) -> dict[str, float | int | None]:
  """``mean``, ``std`` (sample, None for one value) and ``n``."""
  values = [float(v) for v in values if v is not None]
  if not values:
    return {"mean": None, "std": None, "n": 0}
  std = statistics.stdev(values) if len(values) > 1 else None
  return {"mean": statistics.fmean(values), "std": std, "n": len(values)}


def format_mean_std(stat: dict, spec: str = ".4f") -> str:
  """``'0.8435 ± 0.0087 (n=3)'``, ``'0.8435 (n=1)'`` or ``'-'``."""
  if not stat or stat.get("mean") is None:
    return "-"
  text = format(stat["mean"], spec)
  if stat.get("std") is not None:
    text += " ± " + format(stat["std"], spec)
  return text + f" (n={stat['n']})"


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float | None:
  """Kendall's tau-b of two paired samples (ties in either counted as in tau-b).

  Sciuto et al. 2019 rank architectures by the shared-weight score and by
  the stand-alone score and report this coefficient. None for fewer than
  two pairs or a constant sample.
  """
  if len(x) != len(y):
    raise ValueError("kendall_tau needs paired samples")
  concordant = discordant = ties_x = ties_y = 0
  n = len(x)
  for i in range(n):
    for j in range(i + 1, n):
      dx = x[i] - x[j]
      dy = y[i] - y[j]
      if dx == 0 and dy == 0:
        continue
      if dx == 0:
        ties_x += 1
      elif dy == 0:
        ties_y += 1
      elif (dx > 0) == (dy > 0):
        concordant += 1
      else:
        discordant += 1
  denominator = math.sqrt((concordant + discordant + ties_x)
                          * (concordant + discordant + ties_y))
  if denominator == 0:
    return None
  return (concordant - discordant) / denominator
