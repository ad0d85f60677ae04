"""The ENAS image trainer (Pham et al. 2018 §2.2): schedule, derive, resume."""

import json
import types

import gin
import numpy as np
import pytest

from controller import strategy
from enas.image import spaces as image_spaces
from enas.micro import supergraph as micro_supergraph  # noqa: F401  (registers MicroSupergraph)
from enas import schedules
from enas.image import shared_weights as search
from runner import experiment as experiment_lib
from runner import loop
from runner import run_dir as run_dir_lib


def test_cosine_restarts_follow_the_official_periods():
  lr = lambda epoch: schedules.cosine_lr(epoch, 0.05, 0.0005, 10, 2)
  assert lr(0) == pytest.approx(0.05)
  assert lr(5) == pytest.approx(0.0005 + 0.5 * 0.0495)
  assert lr(9.999) == pytest.approx(0.0005, abs=1e-6)
  assert lr(10) == pytest.approx(0.05)           # restart, period 20
  assert lr(20) == pytest.approx(0.0005 + 0.5 * 0.0495)
  assert lr(30) == pytest.approx(0.05)           # restart, period 40


class ScoreBySum:
  """A stand-in supergraph: an architecture's accuracy = sum(tokens) / 100."""

  image_shape, num_classes, out_filters, num_layers = (4, 4, 1), 10, 4, 1

  def __init__(self):
    self.calls = []  # (minibatch size, training) of each score

  def eval_accuracy(self, images, labels, tokens, training=False):
    del labels
    self.calls.append((len(images), training))
    return np.float32(sum(tokens) / 100)


@pytest.mark.parametrize("derive_on", ["minibatch", "validation"])
def test_derive_returns_the_best_scoring_sample(derive_on):
  gin.clear_config()
  gin.parse_config("micro_space.num_nodes = 3")
  space = image_spaces.micro_space()
  data = types.SimpleNamespace(
      x_train=np.zeros((10, 4, 4, 1), np.float32),
      x_valid=np.zeros((300, 4, 4, 1), np.float32),
      y_valid=np.zeros(300, np.int32))
  config = search.EnasConfig(derive_samples=12, derive_on=derive_on,
                             eval_batch_size=50)
  evaluator = search.ImageSharedWeights(config, seed=0, data=data,
                                        model=ScoreBySum())
  gin.clear_config()
  best = loop.derive(strategy.RandomSearch(space, seed=3), evaluator, [],
                     seed=0)
  sums = {c["arc"]: sum(space.parse(c["arc"]).tokens)
          for c in best["candidates"]}
  assert len(sums) == 12
  assert best["arc"] == max(sums, key=sums.get)
  assert best["valid_accuracy"] == pytest.approx(max(sums.values()) / 100)


TINY = """
make_experiment.mode = 'enas'
EnasConfig.space = 'micro'
EnasConfig.dataset = 'digits'
EnasConfig.num_valid = 200
EnasConfig.max_train = 256
EnasConfig.batch_size = 64
EnasConfig.eval_batch_size = 50
SearchBudget.rounds = 2
EnasConfig.max_steps_per_epoch = 2
EnasConfig.augment = False
SearchBudget.updates_per_round = 2
SearchBudget.samples_per_update = 2
EnasConfig.derive_samples = 3
micro_space.num_nodes = 3
MicroSupergraph.num_layers = 1
MicroSupergraph.out_filters = 4
MicroSupergraph.aux_weight = 0.0
make_strategy.lstm_size = 16
make_strategy.lstm_num_layers = 1
"""


def _search(run, rounds, log):
  """The loop with the image evaluator, as the binary builds it from gin."""
  gin.clear_config()
  gin.parse_config(TINY)
  try:
    with gin.unlock_config():
      gin.bind_parameter("SearchBudget.rounds", rounds)
    experiment = experiment_lib.make_experiment(seed=0)
    return loop.run_search(run, experiment.strategy, experiment.evaluator,
                           experiment.budget, seed=0, log=log)
  finally:
    gin.clear_config()


def test_a_tiny_search_logs_each_epoch_and_resumes_after_the_last_one(tmp_path):
  run = run_dir_lib.RunDir(str(tmp_path))
  _search(run, 1, log=lambda _: None)
  lines = []
  best = _search(run, 2, log=lines.append)
  assert lines[0] == "resuming after epoch 0"
  epochs = [json.loads(line) for line in
            (tmp_path / "rounds.jsonl").read_text().splitlines()]
  assert [e["round"] for e in epochs] == [0, 1]
  for epoch in epochs:
    assert np.isfinite(epoch["evaluator"]["train_loss"])
    assert epoch["evaluator"]["grad_norm"] > 0  # does the clip bite?
    assert 0 <= epoch["evaluator"]["clip_fraction"] <= 1
    assert 0 <= epoch["mean_sampled_valid_accuracy"] <= 1
    assert epoch["best_sampled"]
  space = image_spaces.micro_space(num_nodes=3)
  assert space.parse(best["arc"]).to_string() == best["arc"]
  assert json.loads((tmp_path / "best.json").read_text())["arc"] == best["arc"]


@pytest.mark.parametrize("space,reward_training", [("micro", True),
                                                   ("macro", False)])
def test_the_paper_settings_score_on_a_search_batch_as_the_official_code(
    space, reward_training):
  # melodyguan/enas 4bcfd73 build_valid_rl: the controller's minibatch is
  # batch_size (128 macro, 160 micro); micro_child._model forces
  # is_training=True (dropout on) while searching, general_child does not.
  gin.clear_config()
  gin.parse_config_file(f"gin/enas/cifar10_{space}_search.gin")
  try:
    config = search.EnasConfig()
  finally:
    gin.clear_config()
  assert config.eval_batch_size == config.batch_size == {
      "macro": 128, "micro": 160}[space]
  assert config.reward_training is reward_training
  assert config.clip_mode == "norm"
  data = types.SimpleNamespace(
      x_train=np.zeros((10, 4, 4, 1), np.float32),
      x_valid=np.zeros((300, 4, 4, 1), np.float32),
      y_valid=np.zeros(300, np.int32))
  model = ScoreBySum()
  evaluator = search.ImageSharedWeights(config, seed=0, data=data,
                                        model=model)
  assert model.clip_mode == "norm"
  arc = image_spaces.random_architecture(evaluator.space,
                                         np.random.default_rng(0))
  list(evaluator.evaluate([types.SimpleNamespace(slot=0, arc=arc)]))
  assert model.calls == [(config.batch_size, reward_training)]
