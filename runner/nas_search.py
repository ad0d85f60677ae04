"""NAS mode: sample m children, train each on its own, update, repeat.

Zoph & Le 2017 §3.2. Each controller step asks the strategy for m
architectures, trains them (in parallel on the worker pool), and tells the
strategy their rewards. Every finished child is appended to
``architectures.jsonl`` the moment it finishes; the strategy's state is saved
after each update. On ``--resume`` the strategy is restored to its last saved
update, re-samples the same architectures (its random generator is part of
the state) and reuses every child of the interrupted step that had already
finished, so no finished child is trained twice or lost.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import gin
import numpy as np

from controller import strategy as strategy_lib
from runner import run_dir as run_dir_lib
from runner import tasks as tasks_lib
from runner import workers


def child_seed(seed: int, index: int) -> int:
  """The training seed of child `index` in a run seeded with `seed`."""
  return (seed * 1_000_003 + index) % (2**31 - 1)


def describe(record: dict[str, Any]) -> str:
  """One line of a child's outcome, whatever its task measured."""
  parts = [record["status"], f"reward {record['reward']:.4f}"]
  for key, label in (("valid_accuracy", "valid_acc"), ("valid_ppl", "valid_ppl"),
                     ("test_accuracy", "test_acc"), ("test_ppl", "test_ppl")):
    if record.get(key) is not None:
      parts.append(f"{label} {record[key]:.4f}")
  parts.append(f"params {record.get('params') or 0:,}")
  parts.append(f"{record.get('seconds') or 0.0:.1f}s")
  if record.get("error"):
    parts.append(f"({record['error']})")
  return " ".join(parts)


def _best(records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
  ok = [r for r in records if r.get("status") == "ok"]
  return max(ok, key=lambda r: r["reward"]) if ok else None


@gin.configurable(denylist=["run", "seed", "gin_files", "gin_bindings", "log"])
def run_nas_search(run: run_dir_lib.RunDir, seed: int,
                   gin_files: Sequence[str], gin_bindings: Sequence[str],
                   num_children: int = 40, children_per_update: int = 8,
                   num_workers: int = 1, backend: str = "local",
                   log: Callable[[str], None] = print) -> dict[str, Any]:
  """Runs (or resumes) a NAS search in `run`; returns the best child record.

  Args:
    run: the run directory (already prepared).
    seed: the run's seed (controller sampling and child training).
    gin_files: gin files, for the worker processes.
    gin_bindings: gin bindings, for the worker processes.
    num_children: the budget of children to train.
    children_per_update: m, architectures per controller update.
    num_workers: workers training children in parallel.
    backend: ``'local'`` (processes on this machine,
      `runner.workers.LocalPool`) or ``'ray'`` (Ray actors on this machine or
      a cluster, `runner.ray_pool.RayPool`).
    log: where progress lines go.
  """
  task = tasks_lib.make_task()
  strategy = strategy_lib.make_strategy(task.space, seed)
  records = run.children()
  run.rewrite_children(records)  # drops a line torn by a kill, if any
  step = 0
  saved = run.load_state()
  if saved is not None:
    info, arrays = saved
    strategy.load_state(arrays)
    step = info["step"] + 1
  finished = {(r["controller_step"], r["slot"]): r for r in records}
  if records:
    log(f"resuming at controller step {step}: {len(records)} children "
        "already recorded")
  pool = workers.make_pool(backend, num_workers, gin_files, gin_bindings,
                           task=task)
  started = time.time()
  try:
    while step * children_per_update < num_children:
      first = step * children_per_update
      count = min(children_per_update, num_children - first)
      samples = strategy.ask(count)
      rewards: list[float] = [0.0] * count
      jobs = []
      for slot, sample in enumerate(samples):
        done = finished.get((step, slot))
        if done is not None and done["arc"] == sample.arc.to_string():
          rewards[slot] = done["reward"]
        else:
          jobs.append((slot, sample.arc.to_string(),
                       child_seed(seed, first + slot)))
      for slot, result in pool.run(jobs):
        record = dict(result, index=first + slot, slot=slot,
                      controller_step=step,
                      arc=samples[slot].arc.to_string())
        run.append_child(record)
        records.append(record)
        rewards[slot] = record["reward"]
        log(f"child {first + slot + 1}/{num_children} (update {step}) "
            + describe(record) + f"  arc: {record['arc']}")
      metrics = strategy.tell(samples, rewards)
      best = _best(records)
      run.save_state(step, strategy.state(),
                     {"num_children": len(records), "metrics": metrics})
      if best is not None:
        run.write_best(_best_json(best, task))
      log(f"update {step}: mean reward {np.mean(rewards):.4f} "
          + " ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))
          + f" | {time.time() - started:.0f}s")
      step += 1
  finally:
    pool.close()
  best = _best(records)
  if best is None:
    return {}
  return _best_json(best, task)


def _best_json(record: dict[str, Any], task) -> dict[str, Any]:
  arc = task.space.parse(record["arc"])
  best = {"arc": record["arc"], "space": task.space.name,
          "reward": record["reward"], "params": record.get("params"),
          "index": record["index"], "decisions": arc.values()}
  for key in ("valid_accuracy", "valid_ppl"):
    if record.get(key) is not None:
      best[key] = record[key]
  return best
