"""The resumable cell loop of a reproduction table.

A cell is one (system, seed) run, or for a ranking table one
(architecture, seed) retraining. Each cell runs in its own directory
``<output_dir>/cells/<system>-seed<k>[-arch<i>]`` and ends by writing
``result.json`` there atomically; a cell whose ``result.json`` exists is
never run again, and a cell that was interrupted is run again by its runner,
which resumes its search through the search's own resume
(`experiments.reproduce.cells`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Callable, Sequence

from child.atomic_files import atomic_write_json
from runner.reproduce import spec as spec_lib

RESULT = "result.json"


@dataclasses.dataclass(frozen=True)
class Cell:
  """One run of a table.

  Attributes:
    system: the row it belongs to.
    seed: its seed.
    arch: for ranking tables, the index of the architecture retrained
      (None for the supergraph cell and every other table).
  """

  system: spec_lib.System
  seed: int
  arch: int | None = None

  @property
  def key(self) -> str:
    key = f"{self.system.id}-seed{self.seed}"
    return key if self.arch is None else f"{key}-arch{self.arch}"

  @property
  def label(self) -> str:
    label = f"{self.system.name} seed {self.seed}"
    return label if self.arch is None else f"{label} architecture {self.arch}"


def cells_of(table: spec_lib.TableSpec, seeds: Sequence[int],
             num_archs: int = 0, systems: Sequence[str] = ()) -> list[Cell]:
  """Every cell of `table` in running order (seed-major: a partial table
  has whole seeds).

  Args:
    table: the table.
    seeds: the seeds.
    num_archs: ranking tables: architectures retrained per seed.
    systems: run only these systems (names or ids); empty: all that run.
  """
  chosen = [s for s in table.systems if s.role != "published" or s.arc]
  if systems:
    wanted = set(systems)
    unknown = wanted - {s.name for s in table.systems} - {s.id for s in table.systems}
    if unknown:
      raise KeyError(", ".join(sorted(unknown)))
    chosen = [s for s in chosen if s.name in wanted or s.id in wanted]
  cells = []
  for seed in seeds:
    for system in chosen:
      if system.search is None and system.final is None:
        continue   # a published number with nothing to run
      cells.append(Cell(system, seed))
      if table.kind == "ranking":
        cells.extend(Cell(system, seed, i) for i in range(num_archs))
  return cells


def cell_dir(output_dir: str, cell: Cell) -> str:
  return os.path.join(output_dir, "cells", cell.key)


def load_result(output_dir: str, cell: Cell) -> dict[str, Any] | None:
  path = os.path.join(cell_dir(output_dir, cell), RESULT)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def run_cells(cells: Sequence[Cell], output_dir: str,
              run_cell: Callable[[Cell, str], dict[str, Any]],
              log: Callable[[str], None] = print) -> list[dict[str, Any]]:
  """Runs every cell not finished yet; returns every cell's result.

  Args:
    cells: the cells, in order.
    output_dir: the table's directory.
    run_cell: ``(cell, its directory) -> result``; it may find the
      directory holding an interrupted run and must resume it.
    log: receives progress lines.
  """
  results = []
  started = time.time()
  ran = 0
  for number, cell in enumerate(cells, 1):
    prefix = f"[{number}/{len(cells)}] {cell.label}"
    done = load_result(output_dir, cell)
    if done is not None:
      log(f"{prefix}: finished earlier, skipped")
      results.append(done)
      continue
    path = cell_dir(output_dir, cell)
    resumed = os.path.isdir(path) and bool(os.listdir(path))
    log(f"{prefix}: {'resuming' if resumed else 'running'} in {path}")
    os.makedirs(path, exist_ok=True)
    cell_started = time.time()
    result = dict(run_cell(cell, path), system=cell.system.name,
                  seed=cell.seed, arch=cell.arch,
                  finished=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    result.setdefault("seconds", time.time() - cell_started)
    atomic_write_json(os.path.join(path, RESULT), result)
    results.append(result)
    ran += 1
    elapsed = time.time() - started
    left = len(cells) - number
    log(f"{prefix}: done in {time.time() - cell_started:.0f}s; "
        f"{left} cell(s) left, {elapsed / ran * left / 60:.0f} min at this pace")
  return results
