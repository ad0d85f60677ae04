"""What a child training returns, and how it is written to JSON."""

from __future__ import annotations

import math
from typing import Any


def finite_or_none(record: dict[str, Any]) -> dict[str, Any]:
  """JSON has no infinity: a perplexity that could not be computed is null."""
  return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
          for k, v in record.items()}


