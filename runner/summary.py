"""What a finished (or running) search found: ranking, Pareto front, table.

Reads a run directory (`runner.loop` writes it): every evaluated
architecture (``architectures.jsonl``), the rounds (``rounds.jsonl``), the
result (``best.json``) and any final-training results (``result.json`` of
`experiments.train_final`, found under the run directory or named by the
caller). Pure logic, no plotting (`runner.summary_plots` draws):

* `rank`: the distinct architectures by reward, each with its best record;
* `pareto_front`: the architectures no other beats on score and size at
  once (max score; min parameters, and min FLOPs where every candidate has
  them);
* `table`: the top-k as text lines.

A record's score is its search-time validation score, labelled by its
``phase``: ``'shared_weights'`` is a search-phase score with the shared
weights (Pham et al. 2018 §2.2), never comparable with a model trained on
its own; ``'from_scratch'`` is a child trained on its own (Zoph & Le 2017).
A retrained score is a ``result.json``'s test score, shown apart.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Iterable, Sequence

from runner import run_dir as run_dir_lib

PHASE_LABELS = {"shared_weights": "search-phase (shared weights)",
                "from_scratch": "from scratch"}

SCORES = (("valid_accuracy", True), ("valid_ppl", False))
"""(search score field, higher is better)."""

RETRAINED = (("test_accuracy", True), ("test_ppl", False))
"""(final-training score field, higher is better)."""


class SummaryError(ValueError):
  """The directory holds no run to summarize."""


@dataclasses.dataclass(frozen=True)
class Run:
  """What a run directory holds.

  Attributes:
    path: the run directory.
    records: ``architectures.jsonl``, one dict per evaluated architecture.
    rounds: ``rounds.jsonl``, one dict per finished round.
    best: ``best.json`` ({} when absent).
    retrained: final-training results (``result.json``) by architecture
      string, each with the path it came from (``source``).
  """

  path: str
  records: list[dict[str, Any]]
  rounds: list[dict[str, Any]]
  best: dict[str, Any]
  retrained: dict[str, dict[str, Any]]


def _json(path: str) -> dict[str, Any]:
  try:
    with open(path) as f:
      value = json.load(f)
  except (OSError, ValueError):
    return {}
  return value if isinstance(value, dict) else {}


def find_results(path: str) -> list[str]:
  """Every ``result.json`` under `path` (final trainings put there)."""
  found = []
  for folder, dirs, files in os.walk(path):
    dirs.sort()
    if "result.json" in files:
      found.append(os.path.join(folder, "result.json"))
  return found


def load_run(path: str, result_files: Iterable[str] = ()) -> Run:
  """Reads the run directory `path` and the final-training results.

  Args:
    path: the run directory.
    result_files: more ``result.json`` files (besides those under `path`).

  Raises:
    SummaryError: `path` has neither architectures.jsonl nor best.json, or a
      named result file cannot be read.
  """
  result_files = list(result_files)
  run = run_dir_lib.RunDir(path)
  records = run.children()
  best = _json(os.path.join(path, "best.json"))
  if not os.path.isdir(path) or (not records and not best):
    raise SummaryError(f"{path} holds no search (no architectures.jsonl or "
                       "best.json)")
  retrained = {}
  for name in list(find_results(path)) + list(result_files):
    result = _json(name)
    if not result.get("arc"):
      if name in result_files:
        raise SummaryError(f"cannot read an 'arc' from {name}")
      continue
    retrained[_key(result["arc"])] = dict(result, source=name)
  return Run(path, records, run.read_jsonl("rounds.jsonl"), best, retrained)


def _key(arc: str) -> str:
  return " ".join(str(arc).replace(",", " ").split())


def search_score(record: dict[str, Any]) -> tuple[str, float, bool] | None:
  """(field, value, higher is better) of the record's validation score."""
  for field, higher in SCORES:
    if record.get(field) is not None:
      return field, float(record[field]), higher
  return None


def retrained_score(result: dict[str, Any] | None
                    ) -> tuple[str, float] | None:
  """(field, value) of a final-training result's test score, if any."""
  for field, _ in RETRAINED:
    if result and result.get(field) is not None:
      return field, float(result[field])
  return None


def phase_label(record: dict[str, Any]) -> str:
  """How the record's score was measured, in words."""
  phase = record.get("phase")
  return PHASE_LABELS.get(phase, phase or "unknown phase")


@dataclasses.dataclass(frozen=True)
class Entry:
  """One distinct architecture of a run.

  Attributes:
    record: its record with the highest reward.
    times: how many times it was evaluated.
    retrained: its final-training result, or None.
  """

  record: dict[str, Any]
  times: int
  retrained: dict[str, Any] | None

  @property
  def arc(self) -> str:
    return self.record["arc"]

  @property
  def reward(self) -> float:
    return float(self.record["reward"])

  def size(self, field: str) -> float | None:
    value = self.record.get(field)
    return None if value is None else float(value)


def rank(run: Run) -> list[Entry]:
  """The distinct successful architectures, best reward first.

  Ties keep the order of evaluation (the earlier first).
  """
  best: dict[str, dict[str, Any]] = {}
  times: dict[str, int] = {}
  for record in run.records:
    if record.get("status", "ok") != "ok" or record.get("reward") is None:
      continue
    key = _key(record["arc"])
    times[key] = times.get(key, 0) + 1
    if key not in best or record["reward"] > best[key]["reward"]:
      best[key] = record
  order = sorted(best, key=lambda k: -float(best[k]["reward"]))
  return [Entry(best[k], times[k], run.retrained.get(k)) for k in order]


def objectives(entries: Sequence[Entry]) -> tuple[str, ...]:
  """The size fields the Pareto front minimizes: ``params``, and ``flops``
  when every entry with parameters has them."""
  sized = [e for e in entries if e.size("params") is not None]
  if sized and all(e.size("flops") is not None for e in sized):
    return ("params", "flops")
  return ("params",)


def _score_for_front(entry: Entry) -> float:
  """Higher is better: the search score (negated when lower is better), or
  the reward when the record has none."""
  score = search_score(entry.record)
  if score is None:
    return entry.reward
  return score[1] if score[2] else -score[1]


def pareto_front(entries: Sequence[Entry],
                 sizes: Sequence[str] | None = None) -> list[Entry]:
  """The entries no other entry dominates (max score, min every size).

  An entry dominates another when it is at least as good in every objective
  and better in one. Entries without a size are left out. The front is
  sorted by the first size, smallest first.

  Args:
    entries: the candidates (`rank`'s).
    sizes: the size fields to minimize; default `objectives(entries)`.
  """
  sizes = tuple(sizes or objectives(entries))
  points = []
  for entry in entries:
    values = [entry.size(field) for field in sizes]
    if None not in values:
      points.append((entry, _score_for_front(entry), values))
  front = []
  for entry, score, values in points:
    dominated = False
    for _, other_score, other_values in points:
      no_worse = other_score >= score and all(
          o <= v for o, v in zip(other_values, values))
      better = other_score > score or any(
          o < v for o, v in zip(other_values, values))
      if no_worse and better:
        dominated = True
        break
    if not dominated:
      front.append(entry)
  return sorted(front, key=lambda e: (e.size(sizes[0]), -_score_for_front(e)))


def _number(value: float | None, spec: str = ".4f") -> str:
  return "-" if value is None else format(value, spec)


def _count(value: float | None) -> str:
  return "-" if value is None else f"{int(value):,}"


def table(entries: Sequence[Entry], top_k: int) -> list[str]:
  """The first `top_k` entries as aligned text lines (architectures after)."""
  header = ["#", "reward", "search score", "measured", "retrained (test)",
            "params", "FLOPs", "seconds", "evaluated"]
  rows = []
  for i, entry in enumerate(entries[:top_k], start=1):
    score = search_score(entry.record)
    retrained = retrained_score(entry.retrained)
    rows.append([
        str(i), _number(entry.reward, ".4g"),
        "-" if score is None else f"{score[0]} {score[1]:.4f}",
        phase_label(entry.record),
        "-" if retrained is None else f"{retrained[0]} {retrained[1]:.4f}",
        _count(entry.size("params")), _count(entry.size("flops")),
        _number(entry.size("seconds"), ".1f"), f"{entry.times}x"])
  widths = [max(len(r[c]) for r in [header] + rows) for c in range(len(header))]
  lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
           for row in [header] + rows]
  lines += [f"#{i} arc: {entry.arc}"
            for i, entry in enumerate(entries[:top_k], start=1)]
  return lines


def front_lines(front: Sequence[Entry], sizes: Sequence[str]) -> list[str]:
  """The Pareto-optimal architectures, one line each."""
  lines = []
  for entry in front:
    score = search_score(entry.record)
    parts = [f"reward {entry.reward:.4g}"]
    if score is not None:
      parts.append(f"{score[0]} {score[1]:.4f} [{phase_label(entry.record)}]")
    parts += [f"{field} {_count(entry.size(field))}" for field in sizes]
    lines.append("  ".join(parts) + f"  arc: {entry.arc}")
  return lines


def best_line(run: Run) -> str | None:
  """The run's result (``best.json``) in one line, or None without one."""
  best = run.best
  if not best.get("arc"):
    return None
  parts = [f"reward {float(best['reward']):.4g}"] if "reward" in best else []
  score = search_score(best)
  if score is not None:
    parts.append(f"{score[0]} {score[1]:.4f} [{phase_label(best)}]")
  if best.get("derived_on"):
    parts.append(f"derived on {best['derived_on']}")
  retrained = retrained_score(run.retrained.get(_key(best["arc"])))
  if retrained is not None:
    parts.append(f"retrained {retrained[0]} {retrained[1]:.4f}")
  return "result (best.json): " + "  ".join(parts) + f"  arc: {best['arc']}"


def reward_curve(run: Run) -> tuple[list[int], list[float]]:
  """(controller step, reward) of every successful record, in step order."""
  points = sorted((int(r["controller_step"]), float(r["reward"]))
                  for r in run.records
                  if r.get("status", "ok") == "ok"
                  and r.get("reward") is not None
                  and r.get("controller_step") is not None)
  return [s for s, _ in points], [v for _, v in points]


def round_curve(run: Run, field: str) -> tuple[list[int], list[float]]:
  """(last controller step of the round, ``rounds.jsonl`` `field`) per round.

  A round's last controller step comes from its records; without them, the
  round's index.
  """
  last_step: dict[int, int] = {}
  for record in run.records:
    if record.get("controller_step") is not None and "round" in record:
      last_step[record["round"]] = max(last_step.get(record["round"], -1),
                                       int(record["controller_step"]))
  steps, values = [], []
  for line in run.rounds:
    if line.get(field) is None:
      continue
    steps.append(last_step.get(line["round"], line["round"]))
    values.append(float(line[field]))
  return steps, values
