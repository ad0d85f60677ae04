"""Chooses the search mode from gin and runs it in a run directory."""

from __future__ import annotations

from typing import Any, Sequence

import gin

from runner import nas_search
from runner import run_dir as run_dir_lib


@gin.configurable(denylist=["output_dir", "seed", "resumed", "gin_files",
                            "gin_bindings"])
def run_search(output_dir: str, seed: int, resumed: bool,
               gin_files: Sequence[str], gin_bindings: Sequence[str],
               mode: str = "nas") -> dict[str, Any]:
  """Runs the search named by `mode`: 'nas' (Zoph & Le) or 'enas' (Pham et al.)."""
  run = run_dir_lib.RunDir(output_dir)
  if not resumed:
    text = "".join(open(f).read() + "\n" for f in gin_files)
    run.write_config(text + "\n".join(gin_bindings) + "\n")
  if mode == "nas":
    best = nas_search.run_nas_search(run, seed, gin_files, gin_bindings)
  elif mode == "enas":
    from enas import search as enas_search  # pylint: disable=g-import-not-at-top
    best = enas_search.run_enas_search(run, seed, resumed)
  else:
    raise ValueError(f"unknown search mode {mode!r} (use 'nas' or 'enas')")
  # The settings the run actually read, replacing the input text written at
  # the start.
  run.write_config(gin.operative_config_str())
  return best
