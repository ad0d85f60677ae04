"""A table's results as JSON rows and Markdown.

`build` aggregates the cells' results (mean ± std over seeds) into one row
per system; `markdown` prints them. Search-phase scores (a from-scratch
child's short training, or shared weights) and retrained-from-scratch
scores are separate, labelled columns.
"""

from __future__ import annotations

import dataclasses
import platform
import os
from typing import Any, Sequence

from runner.reproduce import spec as spec_lib
from runner.reproduce import stats

HIGHER_IS_BETTER = {"test_accuracy": True, "valid_accuracy": True, "test_ppl": False, "valid_ppl": False}


def hardware() -> str:
  """This machine, as the tables print it."""
  return f"{os.cpu_count()} CPU cores, {platform.machine()}, no GPU"


def _number(number: spec_lib.Number | None) -> dict[str, Any] | None:
  return None if number is None else dataclasses.asdict(number)


def _row(table: spec_lib.TableSpec, system: spec_lib.System, results: Sequence[dict[str, Any]],
         seeds: Sequence[int], ran: bool) -> dict[str, Any]:
  mine = [r for r in results if r["system"] == system.name and r.get("arch") is None]
  row = {
      "system": system.name, "id": system.id, "role": system.role, "note": system.note,
      "paper": _number(system.paper), "reproductions": [_number(n) for n in system.reproductions],
      "params_paper": system.params_paper, "search_cost_paper": system.search_cost_paper,
      "hardware_paper": system.hardware_paper,
      "seeds": sorted(r["seed"] for r in mine),
  }
  runnable = system.search is not None or system.final is not None
  if not runnable:
    row["status"] = "not run"
  elif not mine:
    row["status"] = "not run" if not ran else "not run (excluded)"
  elif len(mine) < len(seeds):
    row["status"] = f"partial ({len(mine)} of {len(seeds)} seeds)"
  else:
    row["status"] = "measured"
  if table.kind == "params":
    counts = mine[0]["params"] if mine else {}
    row["params"] = counts.get("params")
    row["params_without_aux"] = counts.get("params_without_aux")
    row["commands"] = [mine[0]["command"]] if mine else []
    return row
  searches = [r["search"] for r in mine if r.get("search")]
  if searches:
    row["search_phase"] = dict(
        stats.mean_std([s["score"] for s in searches if s.get("score") is not None]),
        score_key=searches[0]["score_key"], phase=searches[0]["phase"],
        derived_on=searches[0]["derived_on"])
    row["search_seconds"] = stats.mean_std([s["seconds"] for s in searches])
    row["search_cpu_seconds"] = stats.mean_std([s.get("cpu_seconds") for s in searches])
    row["evaluations"] = stats.mean_std([s["evaluations"] for s in searches])
    row["children_from_scratch"] = stats.mean_std([s["children_from_scratch"] for s in searches])
    row["arcs"] = [s["arc"] for s in searches]
  retrained = [r["retrained"] for r in mine if r.get("retrained")]
  if retrained:
    ok = [r for r in retrained if r.get("status") == "ok"]
    row["retrained"] = dict(stats.mean_std([r.get(table.metric) for r in ok]), metric=table.metric,
                            failed=len(retrained) - len(ok),
                            values=[r.get(table.metric) for r in retrained])
    valid = "valid_accuracy" if table.metric == "test_accuracy" else "valid_ppl"
    row["retrained_valid"] = dict(stats.mean_std([r.get(valid) for r in ok]), metric=valid)
    params = [r["params"] for r in retrained if r.get("params")]
    row["params"] = round(sum(params) / len(params)) if params else None
    row["retrain_seconds"] = stats.mean_std([r.get("seconds") for r in retrained])
  row["commands"] = [c for r in mine for c in
                     ([r["search"]["command"]] if r.get("search") else [])
                     + ([r["retrained"]["command"]] if r.get("retrained") else [])]
  return row


def _ranking(table: spec_lib.TableSpec, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
  """Per seed: Kendall's tau between shared-weight scores and retrained scores."""
  boards = {r["seed"]: r for r in results if r.get("ranking")}
  retrained = {(r["seed"], r["arch"]): r["retrained"] for r in results if r.get("arch") is not None}
  per_seed = []
  points = []
  for seed, board in sorted(boards.items()):
    shared = board["ranking"]["shared_weight"]
    pairs = []
    for i, score in enumerate(shared):
      trained = retrained.get((seed, i))
      if trained and trained.get("status") == "ok" and score is not None:
        pairs.append((score, trained[table.metric]))
        points.append({"seed": seed, "arch": i, "shared_weight": score, "retrained": trained[table.metric]})
    tau = stats.kendall_tau([p[0] for p in pairs], [p[1] for p in pairs]) if len(pairs) > 1 else None
    per_seed.append({"seed": seed, "pairs": len(pairs), "kendall_tau": tau,
                     "score_key": board["ranking"]["score_key"]})
  arcs = next(iter(boards.values()))["ranking"]["arcs"] if boards else []
  rows = []
  for i, arc in enumerate(arcs):
    shared = [b["ranking"]["shared_weight"][i] for b in boards.values()]
    trained = [retrained[(s, i)].get(table.metric) for s in boards if (s, i) in retrained
               and retrained[(s, i)].get("status") == "ok"]
    rows.append({"arch": i, "arc": arc, "shared_weight": stats.mean_std(shared),
                 "retrained": stats.mean_std(trained)})
  return {"per_seed": per_seed, "points": points, "architectures": rows,
          "kendall_tau": stats.mean_std([s["kendall_tau"] for s in per_seed if s["kendall_tau"] is not None]),
          "between_seeds": _between_seeds(points)}


def _between_seeds(points: Sequence[dict[str, Any]]) -> dict[str, Any]:
  """Kendall's tau of each measure with itself across seeds, over seed pairs.

  Retraining the same architectures with another seed reorders them too:
  two retrainings agree only this well, the noise against which the
  shared-weight tau is read (a noiseless score would agree with one
  retraining somewhat better than another retraining does).
  """
  by_seed: dict[int, dict[int, dict[str, Any]]] = {}
  for point in points:
    by_seed.setdefault(point["seed"], {})[point["arch"]] = point
  taus: dict[str, list[float]] = {"retrained": [], "shared_weight": []}
  seeds = sorted(by_seed)
  for i, a in enumerate(seeds):
    for b in seeds[i + 1:]:
      common = sorted(set(by_seed[a]) & set(by_seed[b]))
      for key, found in taus.items():
        tau = stats.kendall_tau([by_seed[a][k][key] for k in common], [by_seed[b][k][key] for k in common]) \
            if len(common) > 1 else None
        if tau is not None:
          found.append(tau)
  return {key: stats.mean_std(found) for key, found in taus.items()}


def _cost(rows: list[dict[str, Any]]) -> dict[str, Any]:
  """Seconds per evaluated architecture, and NAS's cost projected to ENAS's evaluations."""
  measured = [r for r in rows if r.get("search_seconds", {}).get("mean")]
  for row in measured:
    row["seconds_per_evaluation"] = row["search_seconds"]["mean"] / max(1.0, row["evaluations"]["mean"])
  shared = [r for r in measured if r.get("search_phase", {}).get("phase") == "shared_weights"]
  scratch = [r for r in measured if r.get("search_phase", {}).get("phase") == "from_scratch"]
  if not (shared and scratch):
    return {}
  enas, nas = shared[0], scratch[0]
  evaluations = enas["evaluations"]["mean"]
  projected = nas["seconds_per_evaluation"] * evaluations
  cost = {"enas": enas["system"], "nas": nas["system"], "evaluations": evaluations,
          "nas_projected_seconds": projected, "enas_seconds": enas["search_seconds"]["mean"],
          "ratio": projected / enas["search_seconds"]["mean"],
          "ratio_per_evaluation": nas["seconds_per_evaluation"] / enas["seconds_per_evaluation"]}
  cpu = [r.get("search_cpu_seconds", {}) for r in (enas, nas)]
  if all(c.get("mean") for c in cpu):
    # The same ratio by CPU time, which other load and pauses do not inflate.
    per = [c["mean"] / max(1.0, r["evaluations"]["mean"]) for c, r in zip(cpu, (enas, nas))]
    cost["cpu_ratio_per_evaluation"] = per[1] / per[0]
  return cost


def build(table: spec_lib.TableSpec, scale: str, seeds: Sequence[int],
          results: Sequence[dict[str, Any]], *, dataset: str, date: str,
          reproduce_command: str, ran: bool = True) -> dict[str, Any]:
  """The table.json object of `table` from its cells' results."""
  rows = [_row(table, s, results, seeds, ran) for s in table.systems]
  data = {
      "table": table.name,
      "title": table.title if table.kind == "params" else f"{table.title}, on {dataset}", "kind": table.kind,
      "metric": table.metric, "scale": scale, "dataset": dataset, "seeds": list(seeds), "date": date,
      "budget": table.reductions.get(scale, ""), "hardware": hardware(),
      "command": reproduce_command, "rows": rows, "cells": list(results),
  }
  if table.kind == "ranking":
    data["ranking"] = _ranking(table, results)
  if table.kind == "search_cost":
    data["cost"] = _cost(rows)
  return data


# ----------------------------------------------------------------------------
# Markdown.

def _fmt_number(number: dict[str, Any] | None) -> str:
  if not number:
    return "-"
  mark = "verified" if number["verified"] else "unverified"
  return f"{number['text']} ({number['source']}; {mark})"


def _metric_label(metric: str) -> str:
  return {"test_accuracy": "test accuracy", "test_ppl": "test perplexity", "valid_accuracy":
          "valid accuracy", "valid_ppl": "valid perplexity", "params": "parameters"}.get(metric, metric)


def _spec(metric: str | None) -> str:
  return ".2f" if metric and metric.endswith("ppl") else ".4f"


def _search_phase(row: dict[str, Any]) -> str:
  phase = row.get("search_phase")
  if not phase or phase.get("mean") is None:
    return "-"
  where = {"shared_weights": "shared weights", "from_scratch": "search child trained on its own"}.get(phase["phase"],
                                                                                          phase["phase"])
  return (f"{stats.format_mean_std(phase, _spec(phase['score_key']))} "
          f"{_metric_label(phase['score_key'])}, {where}")


def _retrained(row: dict[str, Any]) -> str:
  retrained = row.get("retrained")
  if not retrained:
    return row["status"] if row["status"].startswith("not run") else "-"
  text = stats.format_mean_std(retrained, _spec(retrained["metric"]))
  if retrained["failed"]:
    text += f", {retrained['failed']} failed"
  return text


def _seconds(stat: dict[str, Any] | None) -> str:
  if not stat or stat.get("mean") is None:
    return "-"
  return f"{stat['mean'] / 60:.1f} min"


def _device_hours(stat: dict[str, Any] | None) -> str:
  """Wall time, and device-hours with the whole machine as the device."""
  if not stat or stat.get("mean") is None:
    return "-"
  return f"{_seconds(stat)} ({stat['mean'] / 3600:.3f} device-hours)"


def _params(row: dict[str, Any]) -> str:
  ours = f"{row['params']:,}" if row.get("params") else "-"
  return f"{ours} / {row['params_paper'] or '-'}"


def _header(data: dict[str, Any]) -> list[str]:
  return [f"# {data['title']}", "",
          f"Scale: `{data['scale']}`. Seeds: {', '.join(map(str, data['seeds'])) or '-'}. "
          f"Date: {data['date']}. Ours measured on: {data['hardware']}.", "",
          f"Budget (what differs from the papers' settings): {data['budget']}", "",
          f"Command: `{data['command']}`", ""]


def _notes(data: dict[str, Any]) -> list[str]:
  lines = ["", "Notes:", ""]
  lines += [f"* {row['system']}: {row['note']}" for row in data["rows"] if row.get("note")]
  lines += ["* 'verified' marks a published number read from its publication's own text; the others come "
            "from READMEs, issue threads, released data or renderings and are printed as unverified."]
  if data["kind"] != "params":
    lines += ["* Search-phase scores are what the search saw (shared weights, or a search child trained on "
              "its own); retrained scores come from training the architecture from scratch and testing it. "
              "They are never mixed."]
  commands = [(row["system"], c) for row in data["rows"] for c in _first_seed_commands(row)]
  if commands:
    lines += ["", "Commands that produced each row (the same stages as stand-alone binaries; the first seed's, the "
              "others differ only in --seed and the -seed<k> directories):", ""]
    lines += [f"{i}. {name}: `{c}`" for i, (name, c) in enumerate(commands, 1)]
  return lines


def _first_seed_commands(row: dict[str, Any]) -> list[str]:
  return [c for c in row.get("commands", []) if "-seed" not in c or f"-seed{min(row['seeds'])}" in c]


def _command_refs(data: dict[str, Any]) -> dict[str, str]:
  """system -> the numbers of its commands in the notes' list."""
  refs, number = {}, 0
  for row in data["rows"]:
    count = len(_first_seed_commands(row))
    refs[row["system"]] = ", ".join(f"[{number + i + 1}]" for i in range(count)) or "-"
    number += count
  return refs


def markdown(data: dict[str, Any]) -> str:
  """The table as Markdown (title, budget, table, notes, commands)."""
  lines = _header(data)
  kind = data["kind"]
  if kind == "params":
    lines += ["| system | paper | ours (with aux head) | ours (without aux head) | status |", "|---" * 5 + "|"]
    for row in data["rows"]:
      ours = f"{row['params']:,}" if row.get("params") else "-"
      without = f"{row['params_without_aux']:,}" if row.get("params_without_aux") else "-"
      lines.append(f"| {row['system']} | {_fmt_number(row['paper'])} | {ours} | {without} | {row['status']} |")
    return "\n".join(lines + _notes(data)) + "\n"
  metric = _metric_label(data["metric"])
  if kind == "ranking":
    ranking = data["ranking"]
    lines += [f"Kendall's tau (shared-weight score vs retrained {metric}): "
              f"{stats.format_mean_std(ranking['kendall_tau'], '.3f')}; per seed: "
              + ", ".join(f"seed {s['seed']}: " + ("-" if s["kendall_tau"] is None else f"{s['kendall_tau']:.3f}")
                          + f" ({s['pairs']} architectures)" for s in ranking["per_seed"]), ""]
    between = ranking.get("between_seeds") or {}
    if (between.get("retrained") or {}).get("mean") is not None:
      lines += [f"The same measures against themselves across seeds (Kendall's tau over seed pairs): retrained "
                f"{metric} {stats.format_mean_std(between['retrained'], '.3f')} (two retrainings agree only "
                f"this well: the noise the tau above is read against); shared-weight score "
                f"{stats.format_mean_std(between['shared_weight'], '.3f')}.", ""]
    lines += [f"| architecture | search phase: shared-weight score | retrained from scratch: {metric} |",
              "|---|---|---|"]
    for row in ranking["architectures"]:
      lines.append(f"| `{row['arc']}` | {stats.format_mean_std(row['shared_weight'])} | "
                   f"{stats.format_mean_std(row['retrained'])} |")
    lines += ["", "| system | independent reproductions | status |", "|---|---|---|"]
    for row in data["rows"]:
      lines.append(f"| {row['system']} | {'; '.join(_fmt_number(n) for n in row['reproductions']) or '-'} | "
                   f"{row['status']} |")
    return "\n".join(lines + _notes(data)) + "\n"
  if kind == "search_cost":
    lines += ["| system | paper | search cost (paper) | architectures evaluated | trained from scratch | "
              "wall time (ours, mean over seeds) | seconds per evaluation | CPU time (ours, all threads) | "
              "hardware (paper / ours) | status |",
              "|---" * 10 + "|"]
    for row in data["rows"]:
      per = f"{row['seconds_per_evaluation']:.2f} s" if row.get("seconds_per_evaluation") else "-"
      evaluations = row.get("evaluations", {}).get("mean")
      scratch = row.get("children_from_scratch", {}).get("mean")
      lines.append(f"| {row['system']} | {_fmt_number(row['paper'])} | {row['search_cost_paper'] or '-'} | "
                   f"{'-' if evaluations is None else f'{evaluations:.0f}'} | "
                   f"{'-' if scratch is None else f'{scratch:.0f}'} | {_device_hours(row.get('search_seconds'))} | "
                   f"{per} | {_seconds(row.get('search_cpu_seconds'))} | "
                   f"{row['hardware_paper'] or '-'} / {data['hardware']} | {row['status']} |")
    cost = data.get("cost")
    if cost:
      lines += ["", f"Projected: {cost['nas']} would need {cost['nas_projected_seconds'] / 3600:.1f} h for "
                f"{cost['enas']}'s {cost['evaluations']:.0f} evaluations, which took "
                f"{cost['enas_seconds'] / 60:.1f} min: {cost['ratio']:.0f}x "
                f"({cost['ratio_per_evaluation']:.0f}x per evaluated architecture)."]
      if cost.get("cpu_ratio_per_evaluation"):
        lines.append(f"By CPU time, which other load and pauses do not inflate: "
                     f"{cost['cpu_ratio_per_evaluation']:.0f}x per evaluated architecture.")
    return "\n".join(lines + _notes(data)) + "\n"
  lines += [f"| system | role | paper | independent reproductions | ours, search phase | "
            f"ours, retrained from scratch: {metric} | params (ours / paper) | search cost (ours / paper) | "
            f"hardware (paper) | status | command |", "|---" * 11 + "|"]
  refs = _command_refs(data)
  for row in data["rows"]:
    cost = f"{_seconds(row.get('search_seconds'))} / {row['search_cost_paper'] or '-'}"
    lines.append(
        f"| {row['system']} | {row['role']} | {_fmt_number(row['paper'])} | "
        f"{'; '.join(_fmt_number(n) for n in row['reproductions']) or '-'} | {_search_phase(row)} | "
        f"{_retrained(row)} | {_params(row)} | {cost} | {row['hardware_paper'] or '-'} | {row['status']} | "
        f"{refs[row['system']]} |")
  return "\n".join(lines + _notes(data)) + "\n"
