"""The plots of a run summary (`runner.summary`), as PNG files (matplotlib, Agg).

* ``progress.png``: the reward of every evaluated architecture and the mean
  per controller step, and the controller's entropy (``rounds.jsonl``), over
  controller steps;
* ``pareto.png``: search score against parameters (and against FLOPs when
  the records have them), the Pareto front marked.
"""

from __future__ import annotations

import io
import os
from typing import Sequence

from child import atomic_files
from runner import summary

PROGRESS = "progress.png"
PARETO = "pareto.png"
_AXIS_NAMES = {"params": "parameters", "flops": "FLOPs"}


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  return pyplot


def _save(figure, path: str) -> str:
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
  atomic_files.atomic_write_bytes(path, buffer.getvalue())
  return path


def plot_progress(run: summary.Run, path: str) -> str:
  """Reward and controller entropy over controller steps; returns `path`."""
  plt = _pyplot()
  figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
  steps, rewards = summary.reward_curve(run)
  top.scatter(steps, rewards, s=8, alpha=0.35, color="#4292c6",
              label="each architecture")
  means: dict[int, list[float]] = {}
  for step, reward in zip(steps, rewards):
    means.setdefault(step, []).append(reward)
  top.plot(sorted(means), [sum(means[s]) / len(means[s]) for s in sorted(means)],
           color="#08519c", label="mean per step")
  phases = {r.get("phase") for r in run.records} - {None}
  label = ", ".join(sorted(summary.PHASE_LABELS.get(p, p) for p in phases))
  top.set_ylabel("reward" + (f"\n({label})" if label else ""))
  top.legend(loc="lower right", fontsize=8)
  top.grid(alpha=0.3)
  entropy_steps, entropy = summary.round_curve(run, "controller_entropy")
  bottom.plot(entropy_steps, entropy, marker="o", markersize=3,
              color="#d94801")
  bottom.set_ylabel("controller entropy\n(mean per round)")
  bottom.set_xlabel("controller step")
  bottom.grid(alpha=0.3)
  figure.suptitle(os.path.basename(os.path.abspath(run.path)))
  try:
    return _save(figure, path)
  finally:
    plt.close(figure)


def plot_pareto(entries: Sequence[summary.Entry], front: Sequence[summary.Entry],
                sizes: Sequence[str], path: str) -> str:
  """Search score against each size, the Pareto front marked; returns `path`."""
  plt = _pyplot()
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top
  figure, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.5),
                              squeeze=False)
  on_front = {id(e) for e in front}
  for axis, field in zip(axes[0], sizes):
    points = [(e.size(field), e) for e in entries if e.size(field) is not None]
    score_name = "reward"
    def score(entry):
      value = summary.search_score(entry.record)
      return entry.reward if value is None else value[1]
    names = {summary.search_score(e.record)[0] for _, e in points
             if summary.search_score(e.record) is not None}
    if len(names) == 1:
      score_name = names.pop()
    axis.scatter([x for x, e in points if id(e) not in on_front],
                 [score(e) for x, e in points if id(e) not in on_front],
                 s=14, alpha=0.5, color="#9ecae1", label="architectures")
    best = sorted(((x, e) for x, e in points if id(e) in on_front),
                  key=lambda pair: pair[0])
    if len(sizes) == 1:   # a staircase: each step a better, bigger one
      axis.step([x for x, _ in best], [score(e) for _, e in best],
                where="post", color="#cb181d", alpha=0.6)
    axis.scatter([x for x, _ in best], [score(e) for _, e in best], s=30,
                 color="#cb181d", label="Pareto front", zorder=3)
    phases = {summary.phase_label(e.record) for _, e in points}
    axis.set_ylabel(f"{score_name} ({', '.join(sorted(phases))})")
    axis.set_xlabel(_AXIS_NAMES.get(field, field))
    sizes_seen = [x for x, _ in points]
    # A log axis only where the sizes span decades (within one, it would
    # have no labelled tick); numbers as 20k, 1.5M.
    if sizes_seen and min(sizes_seen) > 0 and max(sizes_seen) > 10 * min(sizes_seen):
      axis.set_xscale("log")
      axis.xaxis.set_minor_formatter(ticker.NullFormatter())
    axis.xaxis.set_major_formatter(ticker.EngFormatter())
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
  figure.suptitle("score against size (front: max score, min "
                  + ", ".join(sizes) + ")")
  try:
    return _save(figure, path)
  finally:
    plt.close(figure)
