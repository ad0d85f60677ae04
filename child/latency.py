"""Latency of a built child, measured on this machine (for `runner.objective`).

MnasNet (Tan et al. 2019, §3) measures each model's latency on the target
device. Here a child trained on its own (a NAS child, an ENAS final model)
times its inference forward pass on one batch after training, when
``LatencyConfig.runs`` is positive: ``runs`` timed calls after one untimed
warm-up call (which also traces a compiled function), the median in
seconds. Times depend on the machine and its load; compare them within one
run only.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any, Callable

import gin


@gin.configurable
@dataclasses.dataclass(frozen=True)
class LatencyConfig:
  """Whether and how children time their forward pass.

  Attributes:
    runs: timed forward passes (the median is kept); 0: not measured (no
      ``latency`` field in the records).
    batch_size: examples of the timed batch (images, or sequences of the
      language model's window).
  """

  runs: int = 0
  batch_size: int = 1


def median_seconds(forward: Callable[[], Any], runs: int) -> float:
  """Median wall-clock seconds of ``forward()`` over `runs` calls.

  One untimed call first (warm-up, tracing). `forward` must finish its work
  before it returns (e.g. read its result back), so the time is the
  computation's.
  """
  forward()
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    forward()
    times.append(time.perf_counter() - start)
  return float(statistics.median(times))
