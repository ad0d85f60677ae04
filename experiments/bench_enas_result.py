"""The JSON line of `experiments.bench_enas`: one schema for every space.

Every space (macro, micro, rnn) prints the same keys. Seconds are medians
over ``steps`` timed steps after warm-up; memory is ``ru_maxrss`` in GiB
(2^30 bytes).

* ``space``, ``steps``, ``archs`` (distinct random architectures stepped
  through for ``traces``), ``batch_size``;
* ``seconds_per_step``: one shared-weight step of ``architecture``;
* ``seconds_per_step_random_arcs``: one shared-weight step of a new random
  architecture (the search's situation; op mixes differ in cost);
* ``standalone_seconds_per_step``: ``architecture`` compiled on its own, with
  only its own weights;
* ``ratio``: ``seconds_per_step / standalone_seconds_per_step``;
* ``first_step_seconds``, ``first_standalone_step_seconds``: the first
  steps, which trace and compile;
* ``traces``: traces of the shared train step over the ``archs``
  architectures (1 means no retracing);
* ``shared_params``, ``standalone_params``: weights of the supergraph and of
  the standalone child;
* ``peak_rss_gb``: peak resident memory of the search part (supergraph built,
  compiled and stepped; read before the standalone model is built), GiB;
* ``peak_rss_total_gb``: the same at the end of the whole run, GiB;
* ``load_avg`` (1 minute) and ``cpu_count``: the CPU may be shared;
* ``architecture``: the architecture timed both ways;
* ``details``: the space's own sizes and figures (e.g. layers, hidden size).
"""

from __future__ import annotations

import dataclasses
import os
import resource
from typing import Any


@dataclasses.dataclass(frozen=True)
class Measurements:
  """What one space's benchmark measured; see the module docstring."""
  space: str
  steps: int
  archs: int
  batch_size: int
  seconds_per_step: float
  seconds_per_step_random_arcs: float
  standalone_seconds_per_step: float
  first_step_seconds: float
  first_standalone_step_seconds: float
  traces: int
  shared_params: int
  standalone_params: int
  peak_rss_gb: float
  architecture: str
  details: dict[str, Any]


def peak_rss_gib() -> float:
  """Peak resident memory of this process so far, in GiB (Linux ru_maxrss)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def to_json(measured: Measurements) -> dict[str, Any]:
  """The printed object: `measured`, the ratio and the whole-run figures."""
  out = dataclasses.asdict(measured)
  for key in ("seconds_per_step", "seconds_per_step_random_arcs",
              "standalone_seconds_per_step"):
    out[key] = round(out[key], 4)
  for key in ("first_step_seconds", "first_standalone_step_seconds"):
    out[key] = round(out[key], 2)
  out["ratio"] = round(measured.seconds_per_step
                       / measured.standalone_seconds_per_step, 3)
  out["peak_rss_gb"] = round(measured.peak_rss_gb, 3)
  out["peak_rss_total_gb"] = round(peak_rss_gib(), 3)
  out["load_avg"] = round(os.getloadavg()[0], 2)
  out["cpu_count"] = os.cpu_count()
  return out
