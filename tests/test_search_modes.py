"""Every mode is a configuration of one loop, and any strategy runs in any mode.

Random search is ``make_strategy.kind = 'random'`` and nothing else: from
scratch (the control of both papers) or with shared weights and the same
derive (RS-WS, Li & Talwalkar 2019). Each mode below runs through gin alone
(the shipped gin file, shrunk by bindings), as the binary runs it, on a tiny
budget: two architectures per controller update, one round.
"""

import json

import gin
import pytest

from controller import strategy as strategy_lib
from experiments import cli
from runner import experiment as experiment_lib
from runner import loop
from runner import run_dir as run_dir_lib
import test_binaries
import test_recurrent_shared_weights

TINY_BUDGET = ["SearchBudget.rounds = 1", "SearchBudget.updates_per_round = 1",
               "SearchBudget.samples_per_update = 2",
               "make_strategy.kind = 'random'"]

ENAS_DIGITS = ["EnasConfig.dataset = 'digits'", "EnasConfig.num_valid = 200",
               "EnasConfig.max_train = 256", "EnasConfig.batch_size = 64",
               "EnasConfig.max_steps_per_epoch = 2",
               "EnasConfig.derive_samples = 2"]


def _modes(corpus):
  """mode -> (gin file, bindings, phase of its records)."""
  return {
      "nas_cnn": ("gin/nas/quickstart.gin", test_binaries.DIGITS,
                  "from_scratch"),
      "nas_ptb": ("gin/nas/ptb_cpu.gin", [
          f"LanguageModelTask.data_dir = '{corpus}'",
          "LanguageModelTask.base = 2",
          "LanguageModelConfig.embedding_size = 8",
          "LanguageModelConfig.hidden_size = 8",
          "LanguageModelConfig.batch_size = 4",
          "LanguageModelConfig.bptt = 5",
          "LanguageModelConfig.max_steps_per_epoch = 3",
          "LanguageModelConfig.eval_batch_size = 4",
          "LanguageModelConfig.max_eval_tokens = 200"], "from_scratch"),
      "enas_macro": ("gin/enas/fashion_mnist_macro_cpu.gin", ENAS_DIGITS + [
          "macro_space.num_layers = 3", "MacroSupergraph.out_filters = 4"],
                     "shared_weights"),
      "enas_micro": ("gin/quickstart.gin", ENAS_DIGITS + [
          "MicroSupergraph.num_layers = 1", "MicroSupergraph.out_filters = 4"],
                     "shared_weights"),
      "enas_ptb": ("gin/enas/ptb_cpu.gin", [
          f"EnasRnnConfig.data_dir = '{corpus}'",
          "EnasRnnConfig.num_nodes = 3", "EnasRnnConfig.batch_size = 4",
          "EnasRnnConfig.bptt = 5", "EnasRnnConfig.eval_batch_size = 4",
          "EnasRnnConfig.eval_bptt = 5", "EnasRnnConfig.max_steps_per_epoch = 3",
          "EnasRnnConfig.max_valid_tokens = None",
          "EnasRnnConfig.derive_samples = 2", "RnnSupergraph.hidden_size = 8"],
                   "shared_weights"),
  }


@pytest.fixture(scope="module", name="corpus")
def fixture_corpus(tmp_path_factory):
  return test_recurrent_shared_weights._write_corpus(tmp_path_factory.mktemp("ptb"))  # pylint: disable=protected-access


@pytest.mark.parametrize("mode", ["nas_cnn", "nas_ptb", "enas_macro",
                                  "enas_micro", "enas_ptb"])
def test_random_search_runs_in_every_mode_through_gin_alone(mode, corpus,
                                                            tmp_path):
  gin_file, bindings, phase = _modes(corpus)[mode]
  gin.clear_config()
  try:
    cli.parse_gin([f"{test_binaries.REPO}/{gin_file}"],
                  list(bindings) + TINY_BUDGET)
    experiment = experiment_lib.make_experiment(seed=0)
    assert isinstance(experiment.strategy, strategy_lib.RandomSearch)
    run = run_dir_lib.RunDir(str(tmp_path))
    best = loop.run_search(run, experiment.strategy, experiment.evaluator,
                           experiment.budget, seed=0, log=lambda _: None)
  finally:
    gin.clear_config()
  records = run.children()
  assert len(records) == 2
  assert {r["phase"] for r in records} == {phase}
  # Every record carries its cost (runner.objective), counted analytically.
  assert all(r["params"] > 0 and r["flops"] > 0 for r in records)
  assert best["phase"] == phase
  assert experiment.evaluator.space.parse(best["arc"]).to_string() == best["arc"]
  rounds = [json.loads(line) for line in
            (tmp_path / "rounds.jsonl").read_text().splitlines()]
  assert [r["round"] for r in rounds] == [0]
  assert json.loads((tmp_path / "best.json").read_text()) == best
