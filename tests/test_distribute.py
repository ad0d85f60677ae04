"""Specification of one ENAS image model on several devices (`enas.image.distribute`).

One subprocess (TF's logical devices must be set before it initialises): a
tiny micro final model trained 2 steps on one device and mirrored on two
logical CPU devices at the same global batch ends with the same losses and
weights (synchronised batch norm, summed gradients), and the two replica
copies of every weight stay identical.
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
