"""Specification of one ENAS image model on several devices (`enas.image.distribute`).

Subprocesses (TF's logical devices must be set before it initialises):

* a tiny micro final model trained 2 steps on one device and mirrored on two
  logical CPU devices at the same global batch ends with the same losses and
  weights (synchronised batch norm, summed gradients), and the two replica
  copies of every weight stay identical;
* a shared-weight ENAS search (macro and micro, dropout on, an odd batch
  split 5 + 4) run by the search loop with ``DistributeConfig`` bound in gin
  records the same training losses, rewards and derived architecture on two
  devices as on one, and ends with the same shared weights.
"""

import json
import os
import subprocess
import sys

import pytest

from controller.errors import ConfigError
from enas.image import distribute

_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from enas.image import distribute
from enas.image import final_training as ft
from enas.micro import space as micro_space

config = ft.FinalTrainingConfig(space="micro", num_layers=1, out_filters=4, aux_weight=0.0, keep_prob=1.0,
                                drop_path_keep_prob=None, augment=False, l2=1e-3, lr_max=0.1)
shape = (8, 8, 3)
rng = np.random.default_rng(0)
images = rng.random((2, 8, *shape), dtype=np.float32)
labels = rng.integers(0, 10, (2, 8)).astype(np.int32)

def run(dist):
  keras.utils.set_random_seed(0)
  arch = ft.parse_arc(micro_space.PAPER_MICRO_ARC, config)
  with dist.scope():
    model = ft.build_final_model(arch, config, shape, 10)
    train_step, eval_step, _ = ft._make_steps(model, config, shape, dist)
  losses = [float(train_step(images[i], labels[i], np.float32(0.1))) for i in range(2)]
  copies_equal = True
  if dist.strategy is not None:
    for w in model.weights:
      a, b = dist.strategy.experimental_local_results(w.value)
      copies_equal &= bool(np.array_equal(a.numpy(), b.numpy()))
  weights = [keras.ops.convert_to_numpy(w) for w in model.weights]
  correct = int(eval_step(images[0], labels[0])[0])
  return losses, weights, copies_equal, correct

one = run(distribute.DistributeConfig().make())
two = run(distribute.DistributeConfig("mirrored", ("/cpu:0", "/cpu:1")).make())
print(json.dumps({
    "replicas": distribute.DistributeConfig("mirrored", ("/cpu:0", "/cpu:1")).make().num_replicas,
    "losses": [one[0], two[0]],
    "weights_close": all(np.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(one[1], two[1])),
    "max_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(one[1], two[1])),
    "copies_equal": two[2], "correct": [one[3], two[3]]}))
"""


_SEARCH_SCRIPT = r"""
import json, sys, tempfile
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import gin
from controller import strategy as strategy_lib
from enas import checkpoint
from enas.image import shared_weights
from runner import loop
from runner import run_dir as run_dir_lib

SETTINGS = {
    "macro": "import enas.macro.supergraph\nmacro_space.num_layers = 3\nMacroSupergraph.out_filters = 4\n"
             "MacroSupergraph.keep_prob = 0.5\n",
    "micro": "import enas.micro.supergraph\nmicro_space.num_nodes = 3\nMicroSupergraph.num_layers = 1\n"
             "MicroSupergraph.out_filters = 4\nMicroSupergraph.keep_prob = 0.5\nMicroSupergraph.aux_weight = 0.0\n",
}
MIRRORED = ("import enas.image.distribute\nDistributeConfig.strategy = 'mirrored'\n"
            "DistributeConfig.devices = ['/cpu:0', '/cpu:1']\n")

def search(space, mirrored):
  gin.clear_config()
  gin.parse_config("import controller.strategy\nmake_strategy.lstm_size = 8\nmake_strategy.lstm_num_layers = 1\n"
                   + SETTINGS[space] + (MIRRORED if mirrored else ""))
  config = shared_weights.EnasConfig(space=space, dataset="digits", num_valid=18, max_train=27, batch_size=9,
                                     eval_batch_size=9, augment=False, derive_samples=2, reward_training=True)
  evaluator = shared_weights.ImageSharedWeights(config, seed=0)
  with tempfile.TemporaryDirectory() as path:
    run = run_dir_lib.RunDir(path)
    best = loop.run_search(run, strategy_lib.make_strategy(evaluator.space, 0), evaluator,
                           loop.SearchBudget(rounds=2, updates_per_round=1, samples_per_update=2), seed=0,
                           log=lambda _: None)
    rounds = [r["evaluator"]["train_loss"] for r in run.read_jsonl("rounds.jsonl")]
    rewards = [c["reward"] for c in run.children()]
  weights = checkpoint.variables_state(evaluator.model.checkpoint_variables())
  return {"replicas": evaluator.model._distribution.num_replicas if mirrored else 1,
          "train_loss": rounds, "rewards": rewards, "arc": best["arc"]}, weights

out = {}
for space in ("macro", "micro"):
  one, w1 = search(space, False)
  two, w2 = search(space, True)
  out[space] = {"one": one, "two": two,
                "max_weight_diff": max(float(np.max(np.abs(w1[k] - w2[k]))) for k in w1)}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def two_device_search():
  env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
  done = subprocess.run([sys.executable, "-c", _SEARCH_SCRIPT], capture_output=True, text=True, env=env,
                        timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("space", ["macro", "micro"])
def test_a_shared_weight_search_on_two_devices_equals_one_device(two_device_search, space):
  result = two_device_search[space]
  one, two = result["one"], result["two"]
  assert two["replicas"] == 2
  assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-5)
  assert one["train_loss"][0] != pytest.approx(one["train_loss"][1], rel=1e-3)  # it trained
  assert two["rewards"] == pytest.approx(one["rewards"], abs=1e-6)
  assert two["arc"] == one["arc"]
  assert result["max_weight_diff"] < 1e-3  # float rounding through 6 momentum steps


@pytest.fixture(scope="module")
def two_devices():
  env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
  done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_devices_train_like_one_at_the_same_global_batch(two_devices):
  assert two_devices["replicas"] == 2
  one, two = two_devices["losses"]
  assert one == pytest.approx(two, rel=1e-4)
  assert one[0] != pytest.approx(one[1], rel=1e-3)  # the step changed the weights
  assert two_devices["weights_close"], two_devices["max_diff"]
  assert two_devices["correct"][0] == two_devices["correct"][1]


def test_mirrored_copies_stay_identical(two_devices):
  assert two_devices["copies_equal"]


def test_default_is_one_device_without_a_strategy():
  dist = distribute.DistributeConfig().make()
  assert dist.strategy is None and dist.num_replicas == 1


def test_unknown_strategy_is_rejected():
  with pytest.raises(ConfigError, match="strategy"):
    distribute.DistributeConfig("tpu")


def test_a_device_this_machine_lacks_is_one_config_error():
  # TF would accept it and the collectives would wait for a missing peer.
  with pytest.raises(ConfigError, match="'/cpu:7' is not a device of this machine"):
    distribute.DistributeConfig("mirrored", ("/cpu:0", "/cpu:7")).make()
