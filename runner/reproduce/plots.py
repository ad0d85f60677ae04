"""Pictures of a table where one says more: controls as box plots, the ranking scatter, the cost bars.

Matplotlib with the Agg backend (no display). Each function writes one PNG
and returns its path, or None when there is nothing to draw or matplotlib
is not installed.
"""

from __future__ import annotations

import os
from typing import Any

from runner.reproduce import render


def _pyplot():
  try:
    import matplotlib  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  return pyplot


def plot(data: dict[str, Any], output_dir: str) -> str | None:
  """The picture of a table.json object, written to `output_dir`."""
  kind = data["kind"]
  if kind == "search":
    return _boxes(data, os.path.join(output_dir, "retrained.png"))
  if kind == "ranking":
    return _scatter(data, os.path.join(output_dir, "ranking.png"))
  if kind == "search_cost":
    return _cost(data, os.path.join(output_dir, "cost.png"))
  return None


def _save(pyplot, figure, path: str) -> str:
  figure.tight_layout()
  tmp = path + ".tmp.png"
  figure.savefig(tmp, dpi=110)
  pyplot.close(figure)
  os.replace(tmp, path)
  return path


def _boxes(data, path):
  rows = [r for r in data["rows"] if r.get("retrained") and r["retrained"].get("n")]
  pyplot = _pyplot()
  if not rows or pyplot is None:
    return None
  figure, axes = pyplot.subplots(figsize=(1.6 * len(rows) + 2, 4))
  values = [[v for v in r["retrained"]["values"] if v is not None] for r in rows]
  axes.boxplot(values, showmeans=True)
  for i, vs in enumerate(values, 1):
    axes.scatter([i] * len(vs), vs, s=12, color="black", zorder=3)
  axes.set_xticks(range(1, len(rows) + 1))
  axes.set_xticklabels([f"{r['system']}\n({r['role']})" for r in rows], fontsize=7)
  axes.set_ylabel(f"retrained from scratch: {data['metric']}")
  axes.set_title(f"{data['table']} ({data['scale']}, {data['dataset']})", fontsize=9)
  return _save(pyplot, figure, path)


def _scatter(data, path):
  points = data["ranking"]["points"]
  pyplot = _pyplot()
  if not points or pyplot is None:
    return None
  figure, axes = pyplot.subplots(figsize=(5, 4))
  for seed in sorted({p["seed"] for p in points}):
    mine = [p for p in points if p["seed"] == seed]
    axes.scatter([p["shared_weight"] for p in mine], [p["retrained"] for p in mine], label=f"seed {seed}")
  tau = data["ranking"]["kendall_tau"]
  tau_text = "-" if tau["mean"] is None else f"{tau['mean']:.3f}"
  axes.set_xlabel("search phase: shared-weight validation score")
  axes.set_ylabel(f"retrained from scratch: {data['metric']}")
  axes.set_title(f"Kendall tau {tau_text} (mean over seeds)", fontsize=9)
  axes.legend(fontsize=7)
  return _save(pyplot, figure, path)


def _cost(data, path):
  rows = [r for r in data["rows"] if r.get("seconds_per_evaluation")]
  pyplot = _pyplot()
  if not rows or pyplot is None:
    return None
  figure, axes = pyplot.subplots(figsize=(5, 3.5))
  axes.bar([r["system"] for r in rows], [r["seconds_per_evaluation"] for r in rows])
  axes.set_yscale("log")
  axes.set_ylabel("seconds per evaluated architecture")
  axes.set_title(f"search cost on {render.hardware()}", fontsize=9)
  return _save(pyplot, figure, path)
