"""The experiment: one description of a search, built from gin at the edge.

`make_experiment` reads the gin configuration once and returns everything
a search needs (Acme's ``ExperimentConfig`` in spirit): the evaluator (with
its data and search space), the strategy for that space, the budget and the
seed. `runner.loop.run_search` runs it; nothing below builds a setting from
gin again.

Modes (``make_experiment.mode``):

* ``'nas'``: every architecture trained from scratch (Zoph & Le 2017;
  `runner.from_scratch.FromScratch` with the child task of
  ``make_task.task``).
* ``'enas'``: shared weights for the image spaces (Pham et al. 2018 §2.3,
  §2.4; `enas.image.shared_weights.ImageSharedWeights`, ``EnasConfig``).
* ``'enas_rnn'``: shared weights for the recurrent cell on Penn Treebank
  (Pham et al. §2.1; `enas.recurrent.shared_weights.RecurrentSharedWeights`,
  ``EnasRnnConfig``).
* ``'final_from_scratch'``: every architecture trained from scratch by the
  final-training task of ``make_task.task`` (ENAS spaces), reward = its
  validation score (`runner.final_reward`): with the random strategy, random
  search from scratch over the ENAS spaces (one process, in order).

Every mode runs with every strategy: ``make_strategy.kind = 'random'`` is
random search from scratch (NAS) or random sampling with shared weights and
the same derive (RS-WS, Li & Talwalkar 2019).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import gin

from controller import errors
from controller import gin_modules
from controller import strategy as strategy_lib
from runner import loop
from runner import objective as objective_lib


@dataclasses.dataclass
class Experiment:
  """A search, ready to run.

  Attributes:
    mode: the mode's name ('nas', 'enas', 'enas_rnn').
    evaluator: trains and scores architectures (`runner.loop.Evaluator`).
    strategy: proposes architectures of ``evaluator.space``.
    budget: rounds, updates per round, samples per update.
    seed: the run's seed.
    objective: the reward's cost term (`runner.objective`; off by default).
  """

  mode: str
  evaluator: loop.Evaluator
  strategy: strategy_lib.Strategy
  budget: loop.SearchBudget
  seed: int
  objective: objective_lib.Objective | None = None


def _from_scratch(seed: int, config_text: str):
  del seed
  from_scratch = gin_modules.import_module("runner.from_scratch")
  return from_scratch.FromScratch(config_text)


def _enas_images(seed: int, config_text: str):
  del config_text
  shared_weights = gin_modules.import_module("enas.image.shared_weights")
  return shared_weights.ImageSharedWeights(shared_weights.EnasConfig(), seed)


def _enas_recurrent(seed: int, config_text: str):
  del config_text
  shared_weights = gin_modules.import_module(
      "enas.recurrent.shared_weights")
  return shared_weights.RecurrentSharedWeights(shared_weights.EnasRnnConfig(),
                                               seed)


def _final_from_scratch(seed: int, config_text: str):
  del seed
  from_scratch = gin_modules.import_module("runner.from_scratch")
  final_reward = gin_modules.import_module("runner.final_reward")
  tasks = gin_modules.import_module("runner.tasks")
  task = final_reward.ValidationReward(tasks.make_task())
  return from_scratch.FromScratch(config_text, task=task, num_workers=1)


_EVALUATORS: dict[str, Callable[[int, str], Any]] = {
    "nas": _from_scratch,
    "enas": _enas_images,
    "enas_rnn": _enas_recurrent,
    "final_from_scratch": _final_from_scratch,
}


@gin.configurable(denylist=["seed"])
def make_experiment(seed: int, mode: str = "nas") -> Experiment:
  """Builds the experiment gin describes (see the module doc for `mode`).

  Raises:
    errors.ConfigError: an unknown mode or an unusable setting.
  """
  if mode not in _EVALUATORS:
    raise errors.ConfigError(
        f"make_experiment.mode must be one of {', '.join(_EVALUATORS)}, not "
        f"{mode!r}")
  budget = loop.SearchBudget()
  objective = objective_lib.Objective()
  evaluator = _EVALUATORS[mode](seed, gin.config_str())
  strategy = strategy_lib.make_strategy(evaluator.space, seed)
  return Experiment(mode, evaluator, strategy, budget, seed, objective)
