"""Specification of the package layers: each package builds only on those below.

    controller/   spaces, the LSTM controller, REINFORCE, strategies
    child/        data sets, children trained on their own (NAS families)
    enas/         shared-weight supergraphs and final models (ENAS families)
    runner/       the search loop, evaluators, worker pools, run directories
    experiments/  the binaries

Every import is read from the source with `ast`, the ones inside functions
included, so a lazy import cannot hide a cycle.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ("controller", "child", "enas", "runner", "experiments")
RANK = {name: rank for rank, name in enumerate(LAYERS)}


def _modules(package):
  for folder, _, files in os.walk(os.path.join(ROOT, package)):
    for name in files:
      if name.endswith(".py"):
        yield os.path.join(folder, name)


def imported_packages(path):
  """(line, top-level package) of every import in the file at `path`."""
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield node.lineno, alias.name.split(".")[0]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      yield node.lineno, node.module.split(".")[0]


def upward_imports(package):
  """Imports in `package` of a package at its own rank or above (itself aside)."""
  found = []
  for path in _modules(package):
    for line, target in imported_packages(path):
      if target in RANK and target != package and RANK[target] >= RANK[package]:
        found.append(f"{os.path.relpath(path, ROOT)}:{line} imports {target}")
  return found


@pytest.mark.parametrize("package", LAYERS)
def test_a_package_imports_only_packages_below_it(package):
  assert upward_imports(package) == []


def test_the_reader_sees_lazy_imports(tmp_path):
  source = tmp_path / "m.py"
  source.write_text("def f():\n  from runner import loop\n  import enas.micro\n")
  assert sorted(p for _, p in imported_packages(str(source))) == ["enas", "runner"]


def test_no_import_cycle_between_top_level_packages():
  graph = {p: set() for p in LAYERS}
  for package in LAYERS:
    for path in _modules(package):
      graph[package].update(t for _, t in imported_packages(path)
                            if t in RANK and t != package)

  def reaches(start, goal, seen):
    for nxt in graph[start] - seen:
      if nxt == goal or reaches(nxt, goal, seen | {nxt}):
        return True
    return False

  assert [p for p in LAYERS if reaches(p, p, set())] == []
