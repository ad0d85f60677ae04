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
  """Runs the search named by `mode`.

  Modes: 'nas' (Zoph & Le 2017), 'enas' (Pham et al. 2018, image spaces:
  `EnasConfig.space` 'macro' or 'micro'), 'enas_rnn' (Pham et al. 2018, the
  recurrent cell on Penn Treebank: `EnasRnnConfig`).
  """
  run = run_dir_lib.RunDir(output_dir)
  if not resumed:
    text = "".join(open(f).read() + "\n" for f in gin_files)
    run.write_config(text + "\n".join(gin_bindings) + "\n")
  if mode == "nas":
    best = nas_search.run_nas_search(run, seed, gin_files, gin_bindings)
  elif mode == "enas":
    from enas.image import shared_weights as enas_search  # pylint: disable=g-import-not-at-top
    best = enas_search.run_enas_search(run, seed, resumed)
  elif mode == "enas_rnn":
    from enas.recurrent import shared_weights as rnn_search  # pylint: disable=g-import-not-at-top
    best = rnn_search.run_enas_rnn_search(run, seed, resumed)
  else:
    raise ValueError(f"unknown search mode {mode!r} (use 'nas', 'enas' or "
                     "'enas_rnn')")
  # The settings the run actually read, replacing the input text written at
  # the start.
  run.write_config(gin.operative_config_str())
  return best
