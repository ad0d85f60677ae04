"""The search loop, one for every mode (Zoph & Le 2017 §3.2; Pham et al. 2018 §2.2).

A search is `SearchBudget.rounds` rounds. Each round:

1. ``evaluator.start_round``: a shared-weight evaluator (ENAS) trains its
   supergraph for one epoch, a fresh architecture from the strategy for each
   minibatch (Pham et al. §2.2, first phase); a from-scratch evaluator (NAS)
   has nothing to train (it may deepen the space: Zoph & Le §4.1).
2. `SearchBudget.updates_per_round` times: ask the strategy for
   `SearchBudget.samples_per_update` architectures, evaluate them (from
   scratch: each child trained on its own worker; shared weights: scored on
   one validation minibatch), tell the strategy their rewards.
3. Commit: one line in ``rounds.jsonl``, then the state of the strategy and
   the evaluator (weights, optimizer slots, random streams) atomically.

After the last round the loop derives the result (`derive`): the best
evaluated architecture (NAS), or the best of `derive_samples` architectures
sampled from the trained strategy and scored by the evaluator (ENAS §2.2,
"Deriving architectures"). Any strategy runs with any evaluator: random
search from scratch or with shared weights (Li & Talwalkar's RS-WS) is
``make_strategy.kind = 'random'`` and nothing else.

Run directory (`runner.run_dir`):

* ``architectures.jsonl``: one line per evaluated architecture, appended
  and forced to disk as it finishes: ``index`` (order of sampling over the
  run), ``round``, ``controller_step``, ``slot``, ``arc``, ``reward``,
  ``status``, ``phase`` (``'from_scratch'`` or ``'shared_weights'``: a
  shared-weight score is a search-phase score, never a retrained one) and
  what the evaluator measured (``valid_accuracy`` or ``valid_ppl``,
  ``params``, ``flops``, ``latency``, ``seconds``, ``error``). With a
  multi-objective reward (`runner.objective.Objective`), ``reward`` is that
  reward and ``score_reward`` the evaluator's own.
* ``rounds.jsonl``: one line per finished round, one schema for every mode.
* ``state.json`` + ``state-<round>.npz``: the commit point.
* ``best.json``: the result (NAS: rewritten after every round).

Resume (``--resume``) restores the last committed round. Lines written after
it (a kill mid-round) are dropped, except finished from-scratch children,
which are kept and reused when the restored strategy samples the same
architecture into the same slot again: their training depends on nothing
else, so no finished child is trained twice. The random streams are part of
the state, so with a fixed seed a resumed run equals an uninterrupted one.

An evaluator with ``asynchronous = True`` (``FromScratch.asynchronous``)
runs in `runner.async_loop` instead: workers always busy, an update from
each m children that finish (Zoph & Le §3.2), with its own resume promise.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Iterator, Protocol, Sequence

import gin
import numpy as np

from child import progress
from controller import config_check
from controller import errors
from controller import search_space as ss
from controller import strategy as strategy_lib
from runner import objective as objective_lib
from runner import run_dir as run_dir_lib

ROUNDS = "rounds.jsonl"
SCORES = ("valid_accuracy", "valid_ppl")
"""The score fields an evaluator may report beside the reward."""
SCORE_LABELS = {"valid_accuracy": "valid_acc", "valid_ppl": "valid_ppl"}
PHASE_LABELS = {"shared_weights": "search-phase, shared weights",
                "from_scratch": "search-phase, trained from scratch"}
"""How printed lines name a record's ``phase``: a search-phase score is never
read as a retrained one (a shared-weight accuracy of 0.6 is not a broken
model: the same cell retrained from scratch scores far higher)."""


def phase_label(phase: str | None) -> str:
  """The printed name of a record's ``phase``."""
  return PHASE_LABELS.get(phase, phase or "unknown phase")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class SearchBudget:
  """How much a search evaluates.

  NAS (Zoph & Le): a round is one controller update of m children
  (``updates_per_round = 1``, ``samples_per_update = m``). ENAS (Pham et
  al.): a round is an epoch of shared-weight training followed by
  ``updates_per_round`` controller updates of ``samples_per_update``
  architectures each (150 x 30 x 10 in the official micro search).

  Attributes:
    rounds: rounds of the search.
    updates_per_round: controller updates per round.
    samples_per_update: architectures per controller update.
  """

  rounds: int = 5
  updates_per_round: int = 1
  samples_per_update: int = 8

  def __post_init__(self):
    config_check.check(self)
    for name in ("rounds", "updates_per_round", "samples_per_update"):
      value = getattr(self, name)
      if not isinstance(value, int) or value < 1:
        raise errors.ConfigError(
            f"SearchBudget.{name} must be a positive integer, not {value!r}")

  @property
  def samples_per_round(self) -> int:
    return self.updates_per_round * self.samples_per_update

  @property
  def total_samples(self) -> int:
    return self.rounds * self.samples_per_round


@dataclasses.dataclass(frozen=True)
class Job:
  """One architecture to evaluate.

  Attributes:
    slot: its place in the controller update (0 .. samples_per_update - 1).
    index: its place in the whole search.
    arc: the architecture.
    seed: the seed of its training (from-scratch evaluators).
  """

  slot: int
  index: int
  arc: ss.Architecture
  seed: int


class Evaluator(Protocol):
  """What the loop needs of an evaluator (from scratch or shared weights).

  Attributes:
    space: the search space the strategy samples.
    kind: names the search in the saved state (a resume checks it).
    phase: ``'from_scratch'`` or ``'shared_weights'`` (written in records).
    round_name: what a round is called in progress lines ('update', 'epoch').
    reuses_finished: results of an interrupted round stay valid on resume.
    log_each_sample: one progress line per evaluated architecture.
    derive_samples: 0: the result is the best evaluated architecture;
      n > 0: the best of n architectures sampled after the last round and
      scored by `score`.
    derive_on: how `score` measures (written in best.json).
  """

  space: ss.SearchSpace
  kind: str
  phase: str
  round_name: str
  reuses_finished: bool
  log_each_sample: bool
  derive_samples: int
  derive_on: str

  def start_round(self, round_index: int, first_sample: int,
                  strategy: strategy_lib.Strategy) -> dict[str, Any]:
    """Work before the round's controller updates; returns its metrics."""

  def evaluate(self, jobs: Sequence[Job]
               ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields ``(slot, record)`` as each job finishes (any order)."""

  def score(self, arc: ss.Architecture, rng: np.random.Generator
            ) -> dict[str, Any]:
    """``reward`` and scores of `arc` for deriving (shared weights)."""

  def parse(self, text: str) -> ss.Architecture:
    """An architecture string of this search (as recorded)."""

  def describe(self, arc: ss.Architecture) -> list[str] | None:
    """Readable lines for `arc`, or None."""

  def state(self) -> dict[str, np.ndarray]:
    """Everything needed to continue exactly (weights, random streams)."""

  def load_state(self, arrays: dict[str, np.ndarray]) -> None:
    """Restores `state()`."""

  def close(self) -> None:
    """Frees workers."""


def child_seed(seed: int, index: int) -> int:
  """The training seed of the architecture `index` of a run seeded `seed`."""
  return (seed * 1_000_003 + index) % (2**31 - 1)


class Observer(Protocol):
  """Watches a search (e.g. `runner.tensorboard.TensorBoardObserver`).

  The loop calls it after it has written what it passes: each evaluated
  architecture's ``architectures.jsonl`` record, each round's
  ``rounds.jsonl`` line, and the result (``best.json``; ``{}`` if nothing
  succeeded). It must not change them.
  """

  def on_record(self, record: dict[str, Any]) -> None:
    """An evaluated architecture (one ``architectures.jsonl`` line)."""

  def on_round(self, summary: dict[str, Any]) -> None:
    """A finished round (one ``rounds.jsonl`` line)."""

  def on_result(self, best: dict[str, Any]) -> None:
    """The search's result, after the last round."""


def run_search(run: run_dir_lib.RunDir, strategy: strategy_lib.Strategy,
               evaluator: Evaluator, budget: SearchBudget, seed: int,
               log: Callable[[str], None] = print,
               objective: objective_lib.Objective | None = None,
               observers: Sequence[Observer] = ()) -> dict[str, Any]:
  """Runs (or resumes) a search in `run`; returns the best.json record.

  Args:
    run: the run directory (prepared; it may hold a run to resume).
    strategy: proposes architectures and learns from rewards.
    evaluator: trains and scores them.
    budget: rounds, updates per round, samples per update.
    seed: the run's seed (child seeds, derive sampling).
    log: receives progress lines.
    objective: turns each record's reward into a multi-objective one (and
      derive's scores); None: the evaluator's rewards as they are.
    observers: told of every record, round and the result (`Observer`).

  Returns:
    The result, also written to ``best.json``; ``{}`` when no architecture
    was evaluated successfully.

  Raises:
    run_dir_lib.RunDirError: the run directory holds another kind of search.
    errors.ConfigError: the objective's cost is one the evaluator lacks.
  """
  if objective is not None:
    objective.check(evaluator)
  log = progress.above_bars(log)
  if getattr(evaluator, "asynchronous", False):  # Zoph & Le §3.2
    from runner import async_loop  # pylint: disable=g-import-not-at-top
    return async_loop.run_search_async(run, strategy, evaluator, budget, seed,
                                       log, objective=objective,
                                       observers=observers)
  start_round = _restore(run, strategy, evaluator, log)
  records = _records_to_keep(run, start_round, evaluator.reuses_finished)
  finished = {(r["round"], r["controller_step"], r["slot"]): r
              for r in records if r["round"] == start_round}
  started = time.time()
  try:
    for round_index in progress.track(range(start_round, budget.rounds), evaluator.round_name,
                                      unit=evaluator.round_name):
      round_started = time.time()
      first = round_index * budget.samples_per_round
      metrics = evaluator.start_round(round_index, first, strategy)
      evaluated: list[dict[str, Any]] = []
      strategy_metrics: dict[str, float] = {}
      entropies: list[float] = []
      for update in progress.track(range(budget.updates_per_round), "controller update", unit="update"):
        step = round_index * budget.updates_per_round + update
        base = first + update * budget.samples_per_update
        samples = strategy.ask(budget.samples_per_update)
        entropies += [s.entropy for s in samples]
        rewards = [0.0] * len(samples)
        jobs = []
        for slot, sample in enumerate(samples):
          done = finished.get((round_index, step, slot))
          if done is not None and done["arc"] == sample.arc.to_string():
            rewards[slot] = done["reward"]
            evaluated.append(done)
          else:
            jobs.append(Job(slot, base + slot, sample.arc,
                            child_seed(seed, base + slot)))
        for slot, result in progress.track(evaluator.evaluate(jobs), "child", total=len(jobs), unit="child"):
          record = _with_objective(objective, dict(
              result, index=base + slot, slot=slot, round=round_index,
              controller_step=step, phase=evaluator.phase,
              arc=samples[slot].arc.to_string()))
          run.append_child(record)
          _notify(observers, "on_record", record)
          records.append(record)
          evaluated.append(record)
          rewards[slot] = record["reward"]
          if evaluator.log_each_sample:
            log(f"child {record['index'] + 1}/{budget.total_samples} "
                f"(update {step}) " + describe_record(record)
                + f"  arc: {record['arc']}")
        strategy_metrics = strategy.tell(samples, rewards)
      summary = _round_record(round_index, metrics, strategy_metrics,
                              entropies, evaluated,
                              time.time() - round_started)
      commit_round(run, strategy, evaluator, round_index, summary, records,
                   observers)
      log(_round_line(summary, evaluator.round_name, budget.rounds,
                      time.time() - started, evaluator.phase,
                      pace=progress.pace(round_index + 1 - start_round, budget.rounds - start_round,
                                         time.time() - started, evaluator.round_name)))
    best = derive(strategy, evaluator, records, seed, objective)
  finally:
    evaluator.close()
    progress.reset()
  return finish(run, best, observers)


def commit_round(run: run_dir_lib.RunDir, strategy: strategy_lib.Strategy,
                 evaluator: Evaluator, round_index: int,
                 summary: dict[str, Any], records: Sequence[dict[str, Any]],
                 observers: Sequence[Observer] = (), **info: Any) -> None:
  """Ends a round: its ``rounds.jsonl`` line, then the commit point.

  The state of the strategy and the evaluator is saved atomically after the
  line (`RunDir.save_state`); a search without a derive step also rewrites
  ``best.json``. `info` goes into the commit's marker.
  """
  run.append_jsonl(ROUNDS, summary)
  _notify(observers, "on_round", summary)
  arrays = {f"strategy/{k}": v for k, v in strategy.state().items()}
  arrays.update({f"evaluator/{k}": v for k, v in evaluator.state().items()})
  run.save_state(round_index, arrays,
                 dict(info, kind=evaluator.kind, round=round_index,
                      num_records=len(records)))
  if not evaluator.derive_samples:
    best = best_record(records)
    if best is not None:
      run.write_best(_result_of_record(best, evaluator))


def finish(run: run_dir_lib.RunDir, best: dict[str, Any],
           observers: Sequence[Observer] = ()) -> dict[str, Any]:
  """Writes the search's result (if any) and tells the observers."""
  if best:
    run.write_best(best)
  _notify(observers, "on_result", best)
  return best


def _notify(observers: Sequence[Observer], event: str, value: dict[str, Any]) -> None:
  for observer in observers:
    getattr(observer, event)(value)


def describe_record(record: dict[str, Any]) -> str:
  """One line of an evaluated architecture's outcome."""
  parts = [record["status"]]
  if record.get("phase"):
    parts[0] += f" ({phase_label(record['phase'])}):"
  parts.append(f"reward {record['reward']:.4g}")
  for key, label in (("valid_accuracy", "valid_acc"), ("valid_ppl", "valid_ppl"),
                     ("test_accuracy", "test_acc"), ("test_ppl", "test_ppl")):
    if record.get(key) is not None:
      parts.append(f"{label} {record[key]:.4f}")
  parts.append(f"params {record.get('params') or 0:,}")
  parts.append(f"{record.get('seconds') or 0.0:.1f}s")
  if record.get("error"):
    parts.append(f"({record['error']})")
  return " ".join(parts)


def best_record(records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
  """The successful record with the highest reward, or None."""
  ok = [r for r in records if r.get("status") == "ok"]
  return max(ok, key=lambda r: r["reward"]) if ok else None


def derive(strategy: strategy_lib.Strategy, evaluator: Evaluator,
           records: Sequence[dict[str, Any]], seed: int,
           objective: objective_lib.Objective | None = None
           ) -> dict[str, Any]:
  """The search's result (best.json).

  With ``evaluator.derive_samples = n > 0`` (ENAS §2.2): n architectures
  sampled from the trained strategy, each scored by the evaluator (one
  validation minibatch as the paper, or the whole validation set), the
  highest reward kept (multi-objective with `objective`); the candidates
  are listed. Otherwise (NAS): the best evaluated architecture (its record's
  reward already is).
  """
  if not evaluator.derive_samples:
    best = best_record(records)
    return {} if best is None else _result_of_record(best, evaluator)
  rng = np.random.default_rng([seed, 10**6])
  scored = [(_with_objective(objective, evaluator.score(s.arc, rng)), s.arc)
            for s in strategy.ask(evaluator.derive_samples)]
  scores, arc = max(scored, key=lambda pair: pair[0]["reward"])
  return dict(scores, arc=arc.to_string(), space=arc.space.name,
              phase=evaluator.phase, derived_on=evaluator.derive_on,
              description=evaluator.describe(arc),
              candidates=[dict(s, arc=a.to_string()) for s, a in scored],
              decisions=arc.values())


def _result_of_record(record: dict[str, Any], evaluator: Evaluator
                      ) -> dict[str, Any]:
  arc = evaluator.parse(record["arc"])
  best = {"arc": record["arc"], "space": arc.space.name,
          "reward": record["reward"], "params": record.get("params"),
          "index": record["index"], "phase": evaluator.phase,
          "decisions": arc.values(), "description": evaluator.describe(arc)}
  for key in SCORES + ("num_layers",) + _COSTS:
    if record.get(key) is not None:
      best[key] = record[key]
  return best


_COSTS = ("flops", "latency", objective_lib.SCORE_REWARD)
"""Cost fields (beside ``params``) a result copies from its record."""


def _with_objective(objective: objective_lib.Objective | None,
                    record: dict[str, Any]) -> dict[str, Any]:
  return record if objective is None else objective.apply(record)


def _restore(run: run_dir_lib.RunDir, strategy, evaluator, log) -> int:
  """Loads the last commit point that passes its checks (a corrupt one
  falls back to the one before, `RunDir.load_state`); returns the round to
  start at."""
  saved = run.load_state(log)
  if saved is None:
    return 0
  info, arrays = saved
  if info.get("kind") != evaluator.kind:
    raise run_dir_lib.RunDirError(
        f"--resume: {run.path} holds a {info.get('kind')!r} search, not "
        f"{evaluator.kind!r}")
  if not isinstance(info.get("round"), int) or info["round"] < 0:
    raise run_dir_lib.RunDirError(f"--resume: {run.path}/state.json names no "
                                  "round; start again with --overwrite")
  strategy.load_state(_prefixed(arrays, "strategy/"))
  evaluator.load_state(_prefixed(arrays, "evaluator/"))
  log(f"resuming after {evaluator.round_name} {info['round']}")
  return info["round"] + 1


def _prefixed(arrays: dict[str, np.ndarray], prefix: str
              ) -> dict[str, np.ndarray]:
  return {k[len(prefix):]: v for k, v in arrays.items()
          if k.startswith(prefix)}


def _records_to_keep(run: run_dir_lib.RunDir, start_round: int,
                     keep_interrupted: bool) -> list[dict[str, Any]]:
  """The records the resumed run builds on; the files are trimmed to them.

  Records of committed rounds stay; those of the interrupted round stay only
  if the evaluator's finished results are reusable; a line torn by a kill is
  dropped. After a fallback to an earlier commit point (a corrupt last
  one), `start_round` follows it and the records of the rounds after it go.
  """
  last = start_round if keep_interrupted else start_round - 1
  records = [r for r in run.children()
             if isinstance(r.get("round"), int) and r["round"] <= last]
  run.rewrite_children(records)
  rounds = [r for r in run.read_jsonl(ROUNDS)
            if isinstance(r.get("round"), int) and r["round"] < start_round]
  run.rewrite_jsonl(ROUNDS, rounds)
  return records


def _mean(values: Sequence[float]) -> float | None:
  return float(np.mean(values)) if len(values) else None


def _round_record(round_index: int, metrics: dict[str, Any],
                  strategy_metrics: dict[str, float],
                  entropies: Sequence[float],
                  evaluated: Sequence[dict[str, Any]],
                  seconds: float) -> dict[str, Any]:
  """The ``rounds.jsonl`` line: the same keys in every mode."""
  ok = [r for r in evaluated if r.get("status") == "ok"]
  ranked = sorted(ok, key=lambda r: -r["reward"])[:3]
  record = {
      "round": round_index,
      "evaluated": len(evaluated),
      "failed": len(evaluated) - len(ok),
      "mean_reward": _mean([r["reward"] for r in evaluated]),
      "controller_entropy": _mean(entropies),
      "baseline": strategy_metrics.get("baseline"),
      "strategy": strategy_metrics,
      "evaluator": metrics,
      "best_sampled": [{k: r[k] for k in ("arc", "reward") + SCORES if k in r}
                       for r in ranked],
      "seconds": seconds,
  }
  for key in SCORES:
    values = [r[key] for r in ok if r.get(key) is not None]
    record[f"mean_sampled_{key}"] = _mean(values)
  return record


def _round_line(record: dict[str, Any], round_name: str, rounds: int,
                elapsed: float, phase: str | None = None, pace: str = "") -> str:
  """The progress line of a round; its scores are labelled with `phase`."""
  def num(value, spec):
    return "-" if value is None else format(value, spec)

  parts = [f"{round_name} {record['round'] + 1}/{rounds}:"]
  shown = {k: v for k, v in record["evaluator"].items()
           if isinstance(v, (int, float))}
  if shown:
    parts.append(" ".join(f"{k} {v:.4g}" for k, v in shown.items()) + " |")
  parts.append(f"sampled ({phase_label(phase)}): mean reward "
               f"{num(record['mean_reward'], '.4g')}")
  for key in SCORES:
    if record[f"mean_sampled_{key}"] is not None:
      parts.append(f"{SCORE_LABELS[key]} {record[f'mean_sampled_{key}']:.4f}")
  if record["failed"]:
    parts.append(f"({record['failed']} failed)")
  parts.append(f"| entropy {num(record['controller_entropy'], '.2f')} "
               f"baseline {num(record['baseline'], '.4f')} | {elapsed:.0f}s"
               + (f" ({pace})" if pace else ""))
  line = " ".join(parts)
  if record["best_sampled"]:
    best = record["best_sampled"][0]
    line += (f"\n  best sampled: {best['arc']} (search-phase reward "
             f"{best['reward']:.4g})")
  return line
