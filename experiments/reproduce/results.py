"""The top-level RESULTS.md: the reproduction tables actually measured, and a verdict per claim.

Regenerated from the tables' ``table.json`` files under one output root
(``<root>/<table>/<scale>/table.json``) by ``python -m experiments.reproduce
--write_results --output_dir=<root>``. Paper-scale tables not run stay
marked "not run"; a claim whose tables were not measured at cpu scale says
"not measured yet".
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable

from experiments.reproduce import tables as tables_lib
from runner.reproduce import render

CLAIMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "enas_beats_random": ("ENAS beats its random controls (RS-WS and RS)", ("enas_cifar10", "enas_ptb")),
    "cells_beat_lstm": ("Searched cells beat the LSTM", ("nas_ptb", "enas_ptb")),
    "enas_cheaper": ("ENAS costs far less than NAS (the paper: about 1000x)", ("search_cost",)),
    "shared_weights_rank": ("Shared weights rank architectures well", ("ranking",)),
}


def load_tables(root: str) -> dict[tuple[str, str], dict[str, Any]]:
  """(table, scale) -> table.json object, for every table under `root`."""
  out = {}
  for name in tables_lib.TABLES:
    for scale in ("cpu", "paper"):
      path = os.path.join(root, name, scale, "table.json")
      if os.path.exists(path):
        with open(path) as f:
          out[(name, scale)] = json.load(f)
  return out


def _compare(better: dict, worse_name: str, other: dict, metric: str) -> tuple[str, str]:
  """('better' | 'worse' | 'tie', text) for `better`'s retrained mean against `other`'s."""
  a, b = better["retrained"], other["retrained"]
  higher = render.HIGHER_IS_BETTER[metric]
  diff = (a["mean"] - b["mean"]) * (1 if higher else -1)
  noise = max(a.get("std") or 0.0, b.get("std") or 0.0)
  spec = ".2f" if metric.endswith("ppl") else ".4f"
  text = (f"{better['system']} {a['mean']:{spec}} vs {worse_name} {b['mean']:{spec}} "
          f"({_metric_name(metric)}, n = {a['n']} / {b['n']})")
  if diff > noise:
    return "better", text
  if diff < -noise:
    return "worse", text
  return "tie", text


def _metric_name(metric: str) -> str:
  return metric.replace("_", " ")


def _measured(row: dict) -> bool:
  return bool(row.get("retrained") and row["retrained"].get("mean") is not None)


def _space(name: str, role: str) -> str:
  """The space a row belongs to: its name without the method or control prefix."""
  for prefix in ("ENAS", "RS-WS", "RS", "NAS"):
    if name.startswith(prefix + " ") or name == prefix:
      return name[len(prefix):].strip()
  return name


def _enas_beats_random(data: dict) -> list[tuple[str, str]]:
  rows = data["rows"]
  out = []
  for method in (r for r in rows if r["role"] == "method" and _measured(r)):
    space = _space(method["system"], method["role"])
    for control in rows:
      if control["role"] in ("RS", "RS-WS") and _space(control["system"], control["role"]) == space \
          and _measured(control):
        out.append(_compare(method, control["system"], control, data["metric"]))
  return out


def _cells_beat_lstm(data: dict) -> list[tuple[str, str]]:
  rows = data["rows"]
  lstm = next((r for r in rows if r["role"] == "baseline" and _measured(r)), None)
  if lstm is None:
    return []
  return [_compare(r, lstm["system"], lstm, data["metric"]) for r in rows
          if r["role"] in ("method", "published") and _measured(r)]


def _pairwise_verdict(pairs: list[tuple[str, str]], what: str) -> str:
  if not pairs:
    return "not measured yet"
  outcomes = [o for o, _ in pairs]
  details = "; ".join(f"{text}: {'better' if o == 'better' else 'worse' if o == 'worse' else 'within noise'}"
                      for o, text in pairs)
  if all(o == "better" for o in outcomes):
    verdict = f"agrees: {what} in every comparison, by more than one standard deviation"
  elif any(o == "worse" for o in outcomes):
    verdict = "disagrees: in at least one comparison the other side is better by more than one standard deviation"
  else:
    verdict = "does not agree: no comparison separates beyond one standard deviation"
  return f"{verdict} ({details})"


def _coverage(names: tuple[str, ...], measured: dict[tuple[str, str], dict]) -> str:
  """What a verdict rests on, when that is less than every table of its claim at their default seeds."""
  parts = []
  for name in names:
    data = measured.get((name, "cpu"))
    if data is None:
      parts.append(f"{name} not measured yet")
      continue
    default = tables_lib.TABLES[name].seeds["cpu"]
    if len(data["seeds"]) < default:
      parts.append(f"{name} on {len(data['seeds'])} of its {default} seeds so far")
  return f" [{'; '.join(parts)}]" if parts else ""


def verdict(claim: str, measured: dict[tuple[str, str], dict]) -> str:
  """One plain sentence on whether our cpu-scale tables agree with `claim`."""
  _, names = CLAIMS[claim]
  datas = [measured[(n, "cpu")] for n in names if (n, "cpu") in measured]
  if not datas:
    return "not measured yet"
  if claim in ("enas_beats_random", "cells_beat_lstm"):
    compare: Callable[[dict], list] = _enas_beats_random if claim == "enas_beats_random" else _cells_beat_lstm
    pairs = [p for data in datas for p in compare(data)]
    what = "ENAS is better than its control" if claim == "enas_beats_random" else "the cell beats the LSTM"
    return _pairwise_verdict(pairs, what) + _coverage(names, measured)
  if claim == "enas_cheaper":
    cost = datas[0].get("cost")
    if not cost:
      return "not measured yet"
    word = "agrees" if cost["ratio_per_evaluation"] >= 100 else "disagrees"
    return (f"{word}: per evaluated architecture NAS took {cost['ratio_per_evaluation']:.0f}x ENAS's time; "
            f"for ENAS's {cost['evaluations']:.0f} evaluations NAS would need "
            f"{cost['nas_projected_seconds'] / 3600:.1f} h against {cost['enas_seconds'] / 60:.1f} min "
            f"({cost['ratio']:.0f}x)" + (f"; by CPU time {cost['cpu_ratio_per_evaluation']:.0f}x per evaluated "
                                          "architecture" if cost.get("cpu_ratio_per_evaluation") else ""))
  tau = datas[0].get("ranking", {}).get("kendall_tau", {})
  if tau.get("mean") is None:
    return "not measured yet"
  std = f" ± {tau['std']:.3f}" if tau.get("std") is not None else ""
  word = "agrees" if tau["mean"] >= 0.5 else "does not agree"
  noise = (datas[0]["ranking"].get("between_seeds") or {}).get("retrained") or {}
  reference = (f"; two retrainings with different seeds agree at tau {noise['mean']:.3f}"
               if noise.get("mean") is not None else "")
  return (f"{word}: Kendall's tau between shared-weight scores and retrained accuracy is "
          f"{tau['mean']:.3f}{std} over {tau['n']} seed(s) (we call 0.5 or more ranking well){reference}")


def write(root: str, path: str) -> str:
  """Writes RESULTS.md from the tables under `root`; returns its text."""
  measured = load_tables(root)
  date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
  lines = [
      "# Reproducing the papers' tables: what we measured",
      "",
      f"Regenerated {date} by `python -m experiments.reproduce --write_results --output_dir={root}` from the "
      "tables under that directory (each made by `python -m experiments.reproduce --table=NAME "
      "--scale=cpu|paper --output_dir=...`). Only tables actually run appear with numbers; every "
      "paper-scale table stays \"not run\" until run on GPUs. Development measurements (benchmarks, "
      "single runs) are in experiments/RESULTS.md.",
      "",
      "## The papers' claims at cpu scale",
      "",
  ]
  for claim, (text, names) in CLAIMS.items():
    lines.append(f"* **{text}** ({', '.join(names)}): {verdict(claim, measured)}.")
  lines += ["", "A cpu-scale table is a reduced budget (each says exactly what was reduced); agreement or "
            "disagreement there says nothing certain about the papers' scale.", ""]
  for name, table in tables_lib.TABLES.items():
    lines += [f"## {name}", ""]
    for scale in ("cpu",) if table.kind == "params" else ("cpu", "paper"):
      data = measured.get((name, scale))
      if data is None:
        status = "not run" if scale == "paper" else "not measured yet"
        lines += [f"*{scale} scale: {status}* (`python -m experiments.reproduce --table={name} "
                  f"--scale={scale} --output_dir={root}`).", ""]
        continue
      text = render.markdown(data)
      lines += ["##" + text.split("\n", 1)[0], text.split("\n", 1)[1], ""]
    if table.kind == "params":
      lines += ["(Counted at the papers' settings whatever the scale: nothing is trained.)", ""]
  text = "\n".join(lines).rstrip() + "\n"
  from child.atomic_files import atomic_write_bytes  # pylint: disable=g-import-not-at-top
  atomic_write_bytes(path, text.encode())
  return text
