"""The asynchronous search loop (Zoph & Le 2017 §3.2).

Zoph & Le keep hundreds of children training at once: K controller
replicas each sample m children, and each sends its update to a shared
parameter server once its m children have finished, while the other
replicas' children are still training; so a child may be sampled under
older parameters than the ones its update is applied to (its staleness).
This loop gets the same kind of asynchrony with one controller and no
replicas: it keeps every worker busy and updates from each m children that
finish, whichever they are (`runner.loop.run_search` dispatches to it when
the evaluator has ``asynchronous = True``, ``FromScratch.asynchronous``):

1. Every free worker gets a child sampled from the current policy (never
   more than the budget's children in all).
2. Finished children are taken as they come (each wait is bounded by a
   timeout, so the loop is never stuck in one wait; hung children end
   through ``FromScratch.child_timeout_seconds``) and recorded at once.
3. Every m finished children, the strategy is told their rewards: one
   controller update. Every `SearchBudget.updates_per_round` updates, the
   round is committed exactly as in the synchronous loop (``rounds.jsonl``
   line, then the state).

Records: a child's ``round`` and ``controller_step`` are those of the
update that used it, ``slot`` its place in that update's batch, ``index``
the order it was sampled in, ``sampled_at_step`` the number of controller
updates made when it was sampled and ``staleness`` the updates between its
sampling and the update that used it (0: fresh). The round line adds
``mean_staleness``, ``max_staleness`` and ``seconds_waiting`` (the time the
controller spent waiting for children: its idle time).

Resume: the last committed round is restored (strategy state and the
records of every committed update, each kept exactly once). Children that
were in flight or had finished but not yet been used by an update when the
run stopped are dropped and new ones sampled from the restored policy, so
each resumed round still uses exactly m children per update and the run
still ends with the budget's number of used children. A few children may
be trained again (at most the workers plus m - 1), indices of dropped
children stay unused or are reused, and the result is not equal to an
uninterrupted run: only the synchronous loop promises that.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from controller import strategy as strategy_lib
from runner import loop
from runner import run_dir as run_dir_lib

WAIT_SECONDS = 1.0
"""The longest the controller blocks in one wait for a finished child."""


def run_search_async(run: run_dir_lib.RunDir, strategy: strategy_lib.Strategy,
                     evaluator, budget: loop.SearchBudget, seed: int,
                     log: Callable[[str], None] = print,
                     objective=None, observers=()) -> dict[str, Any]:
  """`runner.loop.run_search` for an evaluator with ``asynchronous = True``.

  The evaluator also has ``capacity`` (children at once), ``submit(job)``
  and ``next_finished(timeout) -> (index, record) | None``
  (`runner.from_scratch.FromScratch`).
  """
  start_round = loop._restore(run, strategy, evaluator, log)  # pylint: disable=protected-access
  records = loop._records_to_keep(run, start_round, False)  # pylint: disable=protected-access
  next_index = max((r["index"] for r in records), default=-1) + 1
  m = budget.samples_per_update
  step = start_round * budget.updates_per_round
  last_step = budget.rounds * budget.updates_per_round
  to_sample = (last_step - step) * m
  in_flight: dict[int, tuple[Any, int]] = {}  # index -> (sample, step)
  batch: list[tuple[Any, dict[str, Any]]] = []
  started = time.time()
  try:
    round_index = start_round
    while step < last_step:
      round_index = step // budget.updates_per_round
      round_started = time.time()
      waited = 0.0
      metrics = evaluator.start_round(
          round_index, round_index * budget.samples_per_round, strategy)
      evaluated: list[dict[str, Any]] = []
      entropies: list[float] = []
      strategy_metrics: dict[str, float] = {}
      for _ in range(budget.updates_per_round):
        while len(batch) < m:
          while to_sample and len(in_flight) < evaluator.capacity:
            (sample,) = strategy.ask(1)
            in_flight[next_index] = (sample, step)
            evaluator.submit(loop.Job(-1, next_index, sample.arc,
                                      loop.child_seed(seed, next_index)))
            next_index += 1
            to_sample -= 1
          wait_started = time.time()
          finished = evaluator.next_finished(WAIT_SECONDS)
          waited += time.time() - wait_started
          if finished is None:
            if not in_flight:  # nothing can finish: an engine bug, not a wait
              raise RuntimeError("asynchronous loop: no child in flight")
            continue
          index, result = finished
          sample, sampled_at = in_flight.pop(index)
          record = loop._with_objective(objective, dict(  # pylint: disable=protected-access
              result, index=index, slot=len(batch), round=round_index,
              controller_step=step, sampled_at_step=sampled_at,
              staleness=step - sampled_at, phase=evaluator.phase,
              arc=sample.arc.to_string()))
          run.append_child(record)
          loop._notify(observers, "on_record", record)  # pylint: disable=protected-access
          records.append(record)
          evaluated.append(record)
          batch.append((sample, record))
          if evaluator.log_each_sample:
            log(f"child {len(records)}/{budget.total_samples} "
                f"(update {step}, staleness {record['staleness']}) "
                + loop.describe_record(record) + f"  arc: {record['arc']}")
        samples = [s for s, _ in batch]
        entropies += [s.entropy for s in samples]
        strategy_metrics = strategy.tell(samples,
                                         [r["reward"] for _, r in batch])
        batch = []
        step += 1
      summary = loop._round_record(  # pylint: disable=protected-access
          round_index, metrics, strategy_metrics, entropies, evaluated,
          time.time() - round_started)
      staleness = [r["staleness"] for r in evaluated]
      summary.update(asynchronous=True,
                     mean_staleness=float(np.mean(staleness)),
                     max_staleness=int(max(staleness)),
                     seconds_waiting=waited)
      loop.commit_round(run, strategy, evaluator, round_index, summary,
                        records, observers, asynchronous=True)
      log(loop._round_line(summary, evaluator.round_name, budget.rounds,  # pylint: disable=protected-access
                           time.time() - started, evaluator.phase)
          + f"\n  staleness mean {summary['mean_staleness']:.2f} max "
          f"{summary['max_staleness']}, controller waited "
          f"{waited:.1f}s of {summary['seconds']:.1f}s")
    best = loop.derive(strategy, evaluator, records, seed, objective)
  finally:
    evaluator.close()
  return loop.finish(run, best, observers)
