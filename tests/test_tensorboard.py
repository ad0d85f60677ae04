"""TensorBoard: a search's scalars, texts and pictures, a final training's epochs and HParams."""

import collections
import glob
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gin  # pylint: disable=g-import-not-at-top
import numpy as np
import pytest
import tensorflow as tf

from child.nas_cnn import space as nas_cnn_space
from controller import strategy as strategy_lib
from experiments import cli
from runner import experiment as experiment_lib
from runner import loop
from runner import pictures as pictures_lib
from runner import tensorboard
import test_binaries


def read_events(logdir):
  """{tag: [(step, value)]} of every event file under `logdir`."""
  found = collections.defaultdict(list)
  for path in sorted(glob.glob(os.path.join(logdir, "**", "events.out.tfevents.*"), recursive=True)):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        found[value.tag].append((event.step, tf.make_ndarray(value.tensor) if value.HasField("tensor") else None))
  return found


def steps(events, tag):
  return [step for step, _ in events[tag]]


def text(events, tag):
  return "".join(v.item().decode() if v.shape == () else v.ravel()[0].decode() for _, v in events[tag])


@pytest.fixture(name="pictures")
def fixture_pictures(monkeypatch):
  """`runner.pictures.write_picture` drawing every architecture as a 4x6 PNG."""
  drawn = []

  def write_picture(arc, out_path):
    drawn.append(arc.to_string())
    with open(out_path, "wb") as f:
      f.write(tf.io.encode_png(tf.zeros([4, 6, 3], tf.uint8)).numpy())
    return [out_path]

  monkeypatch.setattr(pictures_lib, "write_picture", write_picture)
  monkeypatch.setattr(tensorboard.shutil, "which", lambda name: f"/usr/bin/{name}")
  return drawn


class SharedWeightStandIn:
  """A numpy shared-weight evaluator: reward = fraction of skip bits on."""

  kind = "stand_in"
  phase = "shared_weights"
  round_name = "epoch"
  reuses_finished = False
  log_each_sample = False
  derive_samples = 2
  derive_on = "minibatch"

  def __init__(self):
    self.space = nas_cnn_space.nas_cnn_space(num_layers=3)

  def start_round(self, round_index, first_sample, strategy):
    del first_sample, strategy
    return {"lr": 0.05 / (round_index + 1), "train_loss": 2.0 - round_index, "grad_norm": 1.5,
            "clip_fraction": 0.25}

  def score(self, arc, rng=None):
    del rng
    bits = [b for k, v in arc.values().items() if k.endswith("inputs") for b in v]
    reward = sum(bits) / max(len(bits), 1)
    return {"reward": reward, "valid_accuracy": reward}

  def evaluate(self, jobs):
    for job in jobs:
      yield job.slot, dict(self.score(job.arc), status="ok")

  def parse(self, text):
    return self.space.parse(text)

  def describe(self, arc):
    return [arc.to_string()]

  def state(self):
    return {}

  def load_state(self, arrays):
    del arrays

  def close(self):
    pass


class LearningStandIn(strategy_lib.RandomSearch):
  """Random sampling that reports what REINFORCE reports (without its compile time)."""

  def tell(self, samples, rewards):
    return dict(super().tell(samples, rewards), controller_loss=0.5, baseline=float(np.mean(rewards)),
                grad_norm=0.1, mean_entropy=1.0)


def test_a_search_logs_child_controller_and_shared_weight_scalars(tmp_path, pictures, monkeypatch):
  def make_experiment(seed):
    evaluator = SharedWeightStandIn()
    return experiment_lib.Experiment("stand_in", evaluator, LearningStandIn(evaluator.space, seed),
                                     loop.SearchBudget(rounds=2, updates_per_round=2, samples_per_update=2), seed)

  monkeypatch.setattr(experiment_lib, "make_experiment", make_experiment)
  gin.clear_config()
  try:
    best = cli.run_search([f"{test_binaries.REPO}/gin/quickstart.gin"], [], str(tmp_path / "run"),
                          seed=0, resume=False, overwrite=False)
  finally:
    gin.clear_config()
  events = read_events(tmp_path / "run" / tensorboard.LOGDIR)
  # 2 epochs x 2 controller updates x 2 architectures, each scored with the shared weights.
  for tag in ("child/reward", "child/valid_accuracy", "child/best_reward"):
    assert steps(events, tag) == list(range(8)), tag
  for tag in ("controller/loss", "controller/baseline", "controller/entropy", "controller/grad_norm",
              "shared/train_loss", "shared/lr", "shared/grad_norm", "shared/clip_fraction",
              "search/mean_reward", "search/seconds"):
    assert steps(events, tag) == [0, 1], tag
  assert [float(v) for _, v in events["shared/train_loss"]] == [2.0, 1.0]
  assert best["arc"] in text(events, "result/best")
  assert "EnasConfig" in text(events, "config/gin")
  assert "| arc |" in text(events, "search/best_sampled")
  assert steps(events, "result/best") == [1] * len(events["result/best"])
  assert best["arc"] in pictures
  assert steps(events, "result/best_picture") == [1]
  assert len(events["search/best_sampled_picture"]) == len(set(pictures)) - (best["arc"] not in pictures[:-1])


def test_without_graphviz_a_search_logs_no_images(tmp_path, monkeypatch):
  monkeypatch.setattr(tensorboard.shutil, "which", lambda name: None)
  observer = tensorboard.TensorBoardObserver(str(tmp_path), parse=lambda text: text)
  observer.on_round({"round": 0, "best_sampled": [{"arc": "0 1", "reward": 0.5}], "strategy": {},
                     "evaluator": {}})
  observer.on_result({"arc": "0 1", "reward": 0.5})
  events = read_events(tmp_path)
  assert "search/best_sampled" in events            # the table, no image
  assert "search/best_sampled_picture" not in events and "result/best_picture" not in events


def test_a_disabled_observer_writes_nothing(tmp_path):
  observer = tensorboard.TensorBoardObserver(str(tmp_path / "tb"), enabled=False)
  observer.on_record({"index": 0, "reward": 1.0})
  observer.on_round({"round": 0, "strategy": {}, "evaluator": {}})
  observer.on_result({})
  assert not os.path.exists(tmp_path / "tb")


def test_a_final_training_logs_its_epochs_and_hparams(tmp_path):
  gin.clear_config()
  try:
    from child.nas_cnn import task as nas_cnn_task  # pylint: disable=g-import-not-at-top
    from child.nas_cnn import trainer  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    gin.parse_config(test_binaries.DIGITS + ["ChildTrainerConfig.epochs = 2"])
    task = nas_cnn_task.ImageClassificationTask(dataset="digits", num_valid=200, max_train=400)
    arc = task.space.parse(" ".join(["0"] * task.space.num_tokens))
    record = tensorboard.evaluate_logged(task, arc, 3, str(tmp_path), name="zeros")
  finally:
    gin.clear_config()
  assert record["status"] == "ok"
  events = read_events(tmp_path / tensorboard.LOGDIR)
  for tag in ("final/train_loss", "final/valid_accuracy", "final/lr", "final/seconds"):
    assert steps(events, tag) == [1, 2], tag
  assert events["result/test_accuracy"][0][1] == pytest.approx(record["test_accuracy"])
  hparams = tensorboard.final_hparams(task, arc, 3, "zeros")
  assert hparams["seed"] == 3 and hparams["ChildTrainerConfig.epochs"] == 2 and hparams["space"] == "nas_cnn"
  assert not [k for k in hparams if k.startswith("SearchSpace.")]
  assert "_hparams_/session_start_info" in events
  assert np.isfinite([v for _, v in events["final/train_loss"]]).all()
