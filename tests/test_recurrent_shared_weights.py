"""The ENAS recurrent-cell search (Pham et al. 2018 §2.1-2.2): rewards, derive, epochs, resume.

A tiny corpus in the PTB file layout (31 words), cells of 4 nodes, hidden 16.
"""

import json
import math
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gin  # pylint: disable=g-import-not-at-top
import numpy as np
import pytest

from child import datasets
from controller import strategy as strategy_lib
from enas.recurrent import shared_weights as rnn_search
from enas.recurrent import space as rnn_space
from runner import loop
from runner import run_dir as run_dir_lib

NUM_NODES = 4
# What a gin file of the binary imports (the modules it binds load lazily).
IMPORTS = """
import controller.strategy
import enas.recurrent.shared_weights
import enas.recurrent.supergraph
import runner.experiment
"""
GIN = """
RnnSupergraph.hidden_size = 16
make_strategy.lstm_size = 16
make_strategy.lstm_num_layers = 1
make_strategy.temperature = 5.0
make_strategy.tanh_constant = 2.5
make_strategy.adam_beta1 = 0.0
make_strategy.adam_epsilon = 0.001
"""


def _write_corpus(directory) -> str:
  """ptb.{train,valid,test}.txt of short lines over 30 words (+ <eos>)."""
  rng = np.random.default_rng(0)
  words = [f"w{i}" for i in range(30)]
  for split, num_lines in (("train", 300), ("valid", 60), ("test", 20)):
    lines = []
    for _ in range(num_lines):
      start, length = rng.integers(0, 30), rng.integers(3, 9)
      lines.append(" ".join(words[(start + 3 * j) % 30] for j in range(length)))
    (directory / f"ptb.{split}.txt").write_text("\n".join(lines) + "\n")
  return str(directory)


def _config(data_dir, epochs=2, **overrides):
  """(settings, budget): 2 epochs of 2 controller updates of 3 cells."""
  settings = dict(num_nodes=NUM_NODES, data_dir=data_dir, batch_size=4, bptt=5,
                  eval_batch_size=4, eval_bptt=5, max_steps_per_epoch=6,
                  derive_samples=4)
  settings.update(overrides)
  return (rnn_search.EnasRnnConfig(**settings),
          loop.SearchBudget(rounds=epochs, updates_per_round=2,
                            samples_per_update=3))


def _search(run_path, config_and_budget, resumed=False, log=None):
  """Runs the loop with the recurrent evaluator (resumes a saved state)."""
  config, budget = config_and_budget
  run = run_dir_lib.RunDir(str(run_path))
  assert resumed == (run.load_state() is not None)
  gin.clear_config()
  gin.parse_config(GIN)
  try:
    evaluator = rnn_search.RecurrentSharedWeights(config, seed=0)
    strategy = strategy_lib.make_strategy(evaluator.space, seed=0)
    return loop.run_search(run, strategy, evaluator, budget, seed=0,
                           log=log or (lambda _: None))
  finally:
    gin.clear_config()


def _epochs(run_path):
  """rounds.jsonl, each line's evaluator metrics beside the common keys."""
  rounds = [json.loads(line) for line in
            (run_path / "rounds.jsonl").read_text().splitlines()]
  return [dict(r["evaluator"], epoch=r["round"], **r) for r in rounds]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  return _write_corpus(tmp_path_factory.mktemp("ptb"))


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory, corpus):
  """An uninterrupted two-epoch search: (run directory, best.json)."""
  path = tmp_path_factory.mktemp("run")
  return path, _search(path, _config(corpus))


# ------------------------------------------------------------------ rewards


class ConstantNll:
  """A stand-in supergraph whose every token costs `nll` nats."""

  def __init__(self, nll):
    self.nll = nll
    self.calls = []

  def initial_state(self, batch_size):
    return np.zeros((batch_size, 3), np.float32)

  def eval_loss(self, x, y, tokens, state):
    self.calls.append((x, y, state))
    return np.float32(self.nll * x.size), x.size, state


def test_the_reward_is_c_over_the_perplexity_of_one_validation_minibatch():
  valid = np.arange(40).reshape(4, 10)
  model = ConstantNll(nll=math.log(50.0))
  ppl = rnn_search.minibatch_ppl(model, valid, (0,), np.random.default_rng(0),
                                 bptt=5, max_log_ppl=10.0)
  assert ppl == pytest.approx(50.0, rel=1e-5)
  assert rnn_search.reward_of(ppl, reward_c=80.0) == pytest.approx(80.0 / 50.0,
                                                                    rel=1e-5)
  # One window of the batchified stream, targets shifted by one, zero state.
  (x, y, state), = model.calls
  assert x.shape == (4, 5) and np.array_equal(y, x + 1)
  assert not np.any(state)


@pytest.mark.parametrize("nll", [50.0, math.inf, math.nan])
def test_an_exploding_cell_gets_the_capped_perplexity_not_a_nan(nll):
  valid = np.arange(40).reshape(4, 10)
  ppl = rnn_search.minibatch_ppl(ConstantNll(nll), valid, (0,),
                                 np.random.default_rng(0), bptt=5,
                                 max_log_ppl=10.0)
  assert ppl == pytest.approx(math.exp(10.0))


class NllBySum:
  """A stand-in supergraph: per-token NLL 1 + sum(tokens) / 100."""

  vocab_size, hidden_size = 7, 3

  def initial_state(self, batch_size):
    return np.zeros((batch_size, 3), np.float32)

  def eval_loss(self, x, y, tokens, state):
    return np.float32((1 + sum(tokens) / 100) * x.size), x.size, state


@pytest.mark.parametrize("derive_on", ["minibatch", "validation"])
def test_derive_returns_the_best_scoring_sample(derive_on):
  space = rnn_space.rnn_cell_space(NUM_NODES)
  config = rnn_search.EnasRnnConfig(num_nodes=NUM_NODES, derive_samples=12,
                                    derive_on=derive_on, eval_batch_size=4,
                                    eval_bptt=5)
  corpus = datasets.TextCorpus(train=np.arange(200) % 7,
                               valid=np.arange(200) % 7, test=np.arange(9),
                               vocab=[str(i) for i in range(7)])
  evaluator = rnn_search.RecurrentSharedWeights(config, seed=0, corpus=corpus,
                                                model=NllBySum())
  best = loop.derive(strategy_lib.RandomSearch(space, seed=3), evaluator, [],
                     seed=0)
  sums = {c["arc"]: sum(space.parse(c["arc"]).tokens)
          for c in best["candidates"]}
  assert len(best["candidates"]) == 12
  assert best["arc"] == min(sums, key=sums.get)
  assert best["valid_ppl"] == pytest.approx(math.exp(1 + min(sums.values()) / 100),
                                            rel=1e-5)
  assert best["reward"] == pytest.approx(80.0 / best["valid_ppl"])
  assert best["derived_on"] == derive_on


def test_the_learning_rate_follows_the_official_staircase_decay():
  config = rnn_search.EnasRnnConfig()   # 0.25, x0.95 a epoch from epoch 12
  assert config.lr(0) == config.lr(12) == 0.25
  assert config.lr(13) == pytest.approx(0.25 * 0.95)
  assert config.lr(20) == pytest.approx(0.25 * 0.95 ** 8)
  assert config.lr(10_000) == 0.0005


# ------------------------------------------------------------- the search


def test_a_tiny_search_logs_each_epoch_and_derives_a_parseable_cell(two_epochs):
  path, best = two_epochs
  epochs = _epochs(path)
  assert [e["epoch"] for e in epochs] == [0, 1]
  for epoch in epochs:
    assert epoch["train_steps"] + epoch["skipped_steps"] == 6
    assert 1 < epoch["train_ppl"] < 1000
    assert 1 < epoch["mean_sampled_valid_ppl"] < 1000
    assert epoch["controller_entropy"] > 0 and epoch["baseline"] > 0
    for sampled in epoch["best_sampled"]:
      assert sampled["reward"] == pytest.approx(80.0 / sampled["valid_ppl"])
  space = rnn_space.rnn_cell_space(NUM_NODES)
  assert space.parse(best["arc"]).to_string() == best["arc"]
  rnn_space.decode_rnn(best["arc"])   # a valid cell in the official format
  assert len(best["candidates"]) == 4
  assert best["reward"] == max(c["reward"] for c in best["candidates"])
  assert best["description"][-1].startswith("h_t = mean(node ")
  assert json.loads((path / "best.json").read_text()) == best


def test_resuming_after_epoch_0_continues_with_epoch_1_as_if_never_stopped(
    tmp_path, corpus, two_epochs):
  uninterrupted, best = two_epochs
  _search(tmp_path, _config(corpus, epochs=1))
  lines = []
  resumed = _search(tmp_path, _config(corpus), resumed=True, log=lines.append)
  assert lines[0] == "resuming after epoch 0"
  epochs, expected = _epochs(tmp_path), _epochs(uninterrupted)
  assert [e["epoch"] for e in epochs] == [0, 1]
  for got, want in zip(epochs, expected):
    assert got["best_sampled"] == want["best_sampled"]
    assert got["train_ppl"] == pytest.approx(want["train_ppl"], rel=1e-5)
  assert resumed["candidates"] == best["candidates"]


def test_diverged_shared_weights_stop_with_one_line_and_keep_finished_epochs(
    tmp_path, corpus, two_epochs):
  shutil.copytree(two_epochs[0], tmp_path, dirs_exist_ok=True)
  config = _config(corpus, epochs=3, learning_rate=1e30,
                   max_skips_in_a_row=3)
  with pytest.raises(FloatingPointError) as error:
    _search(tmp_path, config, resumed=True)
  message = str(error.value)
  assert "\n" not in message and "EnasRnnConfig.learning_rate" in message
  assert [e["epoch"] for e in _epochs(tmp_path)] == [0, 1]
  assert run_dir_lib.RunDir(str(tmp_path)).load_state()[0]["step"] == 1


def test_the_binary_reports_diverged_weights_in_one_line_and_keeps_the_run(
    tmp_path, corpus, capsys):
  from experiments import cli  # pylint: disable=g-import-not-at-top
  gin_file = tmp_path / "tiny.gin"
  # lr 0.25 in epoch 0, then x1e31: epoch 0 finishes, epoch 1 diverges.
  gin_file.write_text(IMPORTS + GIN + f"""
make_experiment.mode = 'enas_rnn'
EnasRnnConfig.data_dir = '{corpus}'
EnasRnnConfig.num_nodes = {NUM_NODES}
EnasRnnConfig.batch_size = 4
EnasRnnConfig.bptt = 5
SearchBudget.rounds = 2
EnasRnnConfig.max_steps_per_epoch = 6
SearchBudget.updates_per_round = 1
SearchBudget.samples_per_update = 2
EnasRnnConfig.lr_decay_start = 0
EnasRnnConfig.lr_decay_rate = 1e31
EnasRnnConfig.max_skips_in_a_row = 3
""")
  run = tmp_path / "run"
  gin.clear_config()
  try:
    with pytest.raises(SystemExit) as exit_info, cli.user_errors():
      cli.run_search([str(gin_file)], [], str(run), seed=0, resume=False,
                     overwrite=False)
  finally:
    gin.clear_config()
  assert exit_info.value.code == 2
  error = capsys.readouterr().err.strip().splitlines()
  assert len(error) == 1 and error[0].startswith("error: ")
  assert "non-finite" in error[0]
  assert [e["epoch"] for e in _epochs(run)] == [0]
  assert (run / "state.json").exists()


# ------------------------------------------------- enas_lm random windows


def _random_stream(seed=0, tokens=20_000, bptt=35):
  ids = np.arange(tokens) % 97
  return rnn_search._TrainStream(  # pylint: disable=protected-access
      ids, batch_size=4, bptt=bptt, max_steps=None, random_lengths=True,
      seed=seed)


def test_random_windows_tile_the_stream_with_enas_lm_lengths():
  stream = _random_stream()
  spans, position = [], 0
  for step in range(3 * stream.steps):  # three passes: restarts included
    x, y, restarts = stream.window_at(0, step)
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])  # y is x shifted
    if restarts:
      if spans:  # the window before a restart may be cut by the stream end
        spans.pop()
      position = 0
    # Contiguous: each window starts where the previous one ended.
    np.testing.assert_array_equal(x, stream.data[:, position:position +
                                                 x.shape[1]])
    position += x.shape[1]
    spans.append(x.shape[1])
  lengths = np.array(spans)
  assert lengths.max() <= 35 + 20 and lengths.min() >= 1
  # Draws around 35 are at least 25 (two deviations of 5); shorter ones come
  # from the base of 35 / 2, drawn with probability 0.05.
  short = np.mean(lengths < 25)
  assert 0.02 < short < 0.09, short
  assert abs(np.median(lengths) - 35) <= 2


def test_random_windows_are_the_same_after_a_resume():
  first, second = _random_stream(seed=3), _random_stream(seed=3)
  late = [second.window_at(2, s)[0].shape for s in range(5)]  # no history
  assert [first.window_at(2, s)[0].shape for s in range(5)] == late
  other = _random_stream(seed=4)
  assert [other.window_at(2, s)[0].shape for s in range(5)] != late


class RecordingModel:
  """A stand-in supergraph that records each step's window and rate."""

  def __init__(self):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self.skipped_steps = tf.Variable(0)
    self.steps = []

  def initial_state(self, batch_size):
    return np.zeros((batch_size, 3), np.float32)

  def train_step(self, x, y, tokens, state, lr):
    self.steps.append((x.shape[1], lr))
    return 1.0, state


def test_a_random_window_scales_the_learning_rate_by_its_length():
  stream = _random_stream()
  stream.steps = 40
  model = RecordingModel()
  strategy = strategy_lib.make_strategy(rnn_space.rnn_cell_space(NUM_NODES),
                                        seed=0)
  rnn_search._train_epoch(  # pylint: disable=protected-access
      model, strategy, stream, epoch=0, lr=0.5, max_skips_in_a_row=3)
  assert len({length for length, _ in model.steps}) > 5
  for length, lr in model.steps:
    assert lr == pytest.approx(0.5 * length / 35)


def test_a_search_with_random_windows_runs_and_derives(tmp_path, corpus):
  best = _search(tmp_path, _config(corpus, epochs=1, random_bptt=True))
  assert len(best["arc"].split()) == 2 * NUM_NODES - 1
  assert math.isfinite(_epochs(tmp_path)[0]["train_ppl"])
