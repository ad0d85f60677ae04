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
from controller import errors
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


def layers_at(first_child: int, grow_from: int, grow_by: int,
              grow_every: int, max_layers: int) -> int:
  """Child depth under Zoph & Le's schedule (§4.1): +`grow_by` every
  `grow_every` children, from `grow_from`, at most `max_layers`.

  The depth of a controller step is that of its first child, so a step's
  children share one depth.
  """
  return min(max_layers, grow_from + grow_by * (first_child // grow_every))


def _best(records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
  ok = [r for r in records if r.get("status") == "ok"]
  return max(ok, key=lambda r: r["reward"]) if ok else None


@gin.configurable(denylist=["run", "seed", "gin_files", "gin_bindings", "log"])
def run_nas_search(run: run_dir_lib.RunDir, seed: int,
                   gin_files: Sequence[str], gin_bindings: Sequence[str],
                   num_children: int = 40, children_per_update: int = 8,
                   num_workers: int = 1, backend: str = "local",
                   grow_from_layers: int | None = None,
                   grow_by_layers: int = 2, grow_every: int = 1600,
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
    grow_from_layers: None = every child has the space's depth; else Zoph &
      Le's schedule (§4.1: from 6, +2 every 1,600 children): children start
      this deep and grow by `grow_by_layers` every `grow_every` children up
      to the space's depth (``nas_cnn_space.num_layers``). The controller
      keeps its weights as the depth grows (they are shared across layers).
    grow_by_layers: layers added at each growth.
    grow_every: children between growths.
    log: where progress lines go.

  Raises:
    errors.ConfigError: a depth schedule the task cannot follow.
  """
  task = tasks_lib.make_task()
  depth_of = _depth_schedule(task, grow_from_layers, grow_by_layers,
                             grow_every)
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
      depth = None
      if depth_of is not None:
        depth = depth_of(first)
        strategy.set_space(task.space_with_layers(depth))
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
        if depth is not None:
          record["num_layers"] = depth
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
          + ("" if depth is None else f"layers {depth} ")
          + " ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))
          + f" | {time.time() - started:.0f}s")
      step += 1
  finally:
    pool.close()
  best = _best(records)
  if best is None:
    return {}
  return _best_json(best, task)


def _depth_schedule(task, grow_from: int | None, grow_by: int,
                    grow_every: int) -> Callable[[int], int] | None:
  """``first child index -> depth``, or None without a schedule."""
  if grow_from is None:
    return None
  if not hasattr(task, "space_with_layers"):
    raise errors.ConfigError(
        "run_nas_search.grow_from_layers needs a task with a layered space "
        "(make_task.task = 'image_classification')")
  max_layers = int(task.space.meta("num_layers"))
  if not 1 <= grow_from <= max_layers or grow_by < 1 or grow_every < 1:
    raise errors.ConfigError(
        f"depth schedule: need 1 <= grow_from_layers ({grow_from}) <= "
        f"nas_cnn_space.num_layers ({max_layers}), grow_by_layers >= 1 and "
        f"grow_every >= 1")
  return lambda first: layers_at(first, grow_from, grow_by, grow_every,
                                 max_layers)


def _best_json(record: dict[str, Any], task) -> dict[str, Any]:
  arc = task.parse(record["arc"])
  best = {"arc": record["arc"], "space": task.space.name,
          "reward": record["reward"], "params": record.get("params"),
          "index": record["index"], "decisions": arc.values()}
  for key in ("valid_accuracy", "valid_ppl", "num_layers"):
    if record.get(key) is not None:
      best[key] = record[key]
  return best
