"""Specification of child/export.py and the final models' exports.

Every final model (ENAS micro and macro, the NAS CNN, the NAS tree-cell
language model, the ENAS recurrent language model) is exported at a tiny size;
ONE fresh Python process then reloads every SavedModel with plain TensorFlow
(no project module imported yet) and every ``model.keras`` with
``keras.models.load_model`` and no ``custom_objects``, and both must predict
what the original predicted.
"""

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # pylint: disable=g-import-not-at-top
import numpy as np
import tensorflow as tf

from child import export
from child.nas_cnn import builder as nas_cnn_builder
from child.nas_cnn import trainer as nas_cnn_trainer
from child.nas_tree_cell import language_model
from child.nas_tree_cell import space as tree_space
from child.nas_tree_cell.cell import cell_factory
from enas.image import final_common
from enas.image import spaces as image_spaces
from enas.macro import final_model as macro_final
from enas.macro import space as macro_space
from enas.micro import final_model as micro_final
from enas.micro import space as micro_space
from enas.recurrent import final_training as rnn_final

# The fresh process: SavedModels first, with nothing but TensorFlow imported;
# then the project's model modules and the .keras files.
_CHECKER = r"""
import json, sys
import numpy as np
import tensorflow as tf
cases = json.load(open(sys.argv[1]))
out = {}
for case in cases:
  d = case["dir"]
  sig = tf.saved_model.load(d + "/saved_model").signatures[case["signature"]]
  got = sig(**{k: tf.constant(np.load(d + "/" + k + ".npy")) for k in case["inputs"]})
  out[d + ":saved_model"] = all(
      np.allclose(got[k].numpy(), np.load(d + "/want_" + k + ".npy"), atol=1e-5)
      for k in case["outputs"])
out["project_imported_before_keras"] = sorted(
    m for m in sys.modules if m.split(".")[0] in ("child", "enas", "controller", "runner"))
import keras
import child.nas_tree_cell.language_model, enas.macro.final_model, enas.micro.final_model
for case in cases:
  d = case["dir"]
  if case.get("keras"):
    model = keras.models.load_model(d + "/model.keras")
    x = np.load(d + "/" + case["inputs"][0] + ".npy")
    y = model(x, training=False)
    y = y[0] if isinstance(y, (tuple, list)) else y
    out[d + ":keras"] = bool(np.allclose(np.asarray(y), np.load(d + "/want_keras.npy"), atol=1e-5))
print(json.dumps(out))
"""


def _save(directory, **arrays):
  for name, value in arrays.items():
    np.save(os.path.join(directory, f"{name}.npy"), np.asarray(value))


def _export_image(model, directory, images, keras_want):
  model(images, training=True)  # moves the batch-norm statistics off 1 and 0
  final_common.export_final_model(model, directory)
  logits, _ = final_common.split_outputs(model(images, training=False))
  _save(directory, images=images, want_logits=logits, want_keras=keras_want(model))
  return {"dir": directory, "signature": "serving_default", "inputs": ["images"],
          "outputs": ["logits"], "keras": True}


def _micro(directory):
  rng = np.random.default_rng(0)
  arc = image_spaces.random_architecture(micro_space.micro_space(num_nodes=3), rng)
  model = micro_final.build_micro_final(
      arc, input_shape=(20, 20, 3), num_classes=3, num_layers=1, out_filters=4,
      aux_head=True, drop_path_keep_prob=0.6)
  assert model.aux_head is not None
  images = rng.normal(size=(4, 20, 20, 3)).astype(np.float32)
  return _export_image(model, directory, images,
                       lambda m: final_common.split_outputs(m(images))[0])


def _macro(directory):
  rng = np.random.default_rng(1)
  arc = image_spaces.random_architecture(macro_space.macro_space(num_layers=4), rng)
  model = macro_final.build_macro_final(arc, input_shape=(8, 8, 1),
                                        num_classes=3, out_filters=4)
  images = rng.normal(size=(4, 8, 8, 1)).astype(np.float32)
  return _export_image(model, directory, images, lambda m: m(images))


def _nas_cnn(directory):
  layers = [nas_cnn_builder.ConvLayer(3, 3, 4),
            nas_cnn_builder.ConvLayer(1, 3, 4, stride=2, inputs=(0,)),
            nas_cnn_builder.ConvLayer(3, 1, 4, inputs=(0, 1))]
  model = nas_cnn_builder.build_cnn(layers, (8, 8, 1), 3)
  images = np.random.default_rng(2).normal(size=(4, 8, 8, 1)).astype(np.float32)
  model(images, training=True)
  nas_cnn_trainer.export(model, directory)
  want = model(images, training=False)
  _save(directory, images=images, want_probabilities=want, want_keras=want)
  return {"dir": directory, "signature": "serving_default", "inputs": ["images"],
          "outputs": ["probabilities"], "keras": True}


def _tree_lm(directory):
  model = language_model.build_language_model(
      cell_factory(tree_space.paper_nas_cell_spec()), 20, 6, 5, 2,
      0.2, 0.2, 0.2, True, 0.3, 0)
  ids = np.random.default_rng(3).integers(0, 20, (2, 7)).astype(np.int32)
  state = np.random.default_rng(4).normal(size=(2, 2, 2, 5)).astype(np.float32)
  paths = language_model.export(model, directory, [f"w{i}" for i in range(20)])
  assert sorted(paths) == ["keras", "saved_model", "vocab"]
  logits, _ = model(ids, training=False)
  step_logits, step_states = model(ids, states=[[state[i, 0], state[i, 1]] for i in range(2)])
  _save(directory, ids=ids, state=state, want_logits=step_logits,
        want_state=tf.stack([tf.stack(s) for s in step_states]), want_keras=logits)
  return {"dir": directory, "signature": "step", "inputs": ["ids", "state"],
          "outputs": ["logits", "state"], "keras": True}


def _enas_lm(directory):
  config = rnn_final.RnnFinalConfig(hidden_size=8, vocab_size=30, init_range=0.5)
  model = rnn_final.build_model(rnn_final.PAPER_CELL, config)
  ids = np.random.default_rng(5).integers(0, 30, (2, 6)).astype(np.int32)
  paths = rnn_final.export(model, directory, [f"w{i}" for i in range(30)])
  assert sorted(paths) == ["saved_model", "vocab"]  # a tf.Module: no model.keras
  logits, last = model.logits(ids, model.initial_state(2))
  _save(directory, ids=ids, want_logits=logits, want_state=last)
  return {"dir": directory, "signature": "serving_default", "inputs": ["ids"],
          "outputs": ["logits", "state"]}


def test_every_final_model_reloads_in_a_fresh_process_and_predicts_the_same(tmp_path):
  cases = []
  for build in (_micro, _macro, _nas_cnn, _tree_lm, _enas_lm):
    directory = tmp_path / build.__name__.strip("_")
    directory.mkdir()
    cases.append(build(str(directory)))
  manifest = tmp_path / "cases.json"
  manifest.write_text(json.dumps(cases))
  proc = subprocess.run([sys.executable, "-c", _CHECKER, str(manifest)],
                        capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert result.pop("project_imported_before_keras") == []
  expected = {f"{c['dir']}:saved_model": True for c in cases}
  expected.update({f"{c['dir']}:keras": True for c in cases if c.get("keras")})
  assert result == expected
  assert (tmp_path / "enas_lm" / "vocab.txt").read_text().splitlines()[:2] == ["w0", "w1"]


def test_every_custom_layer_of_the_image_final_models_rebuilds_from_its_config():
  rng = np.random.default_rng(0)
  micro = micro_final.build_micro_final(
      image_spaces.random_architecture(micro_space.micro_space(num_nodes=3), rng),
      input_shape=(20, 20, 3), num_classes=3, num_layers=1, out_filters=4)
  macro = macro_final.build_macro_final(
      image_spaces.random_architecture(macro_space.macro_space(num_layers=4), rng),
      input_shape=(8, 8, 1), num_classes=3, out_filters=4)
  kinds = set()
  for model in (micro, macro):
    for layer in model._flatten_layers(include_self=False):  # pylint: disable=protected-access
      name = keras.saving.get_registered_name(type(layer))
      assert name.startswith("rlnas>"), name
      clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
      assert type(clone) is type(layer)
      assert [w.shape for w in clone.weights] == [w.shape for w in layer.weights], name
      kinds.add(name)
  assert {"rlnas>FinalCell", "rlnas>DropPath", "rlnas>ConvBN", "rlnas>BatchNorm",
          "rlnas>FactorizedReduction", "rlnas>AuxHead", "rlnas>SepConvStack",
          "rlnas>FixedOp"} <= kinds


def test_an_export_replaces_the_last_one_and_leaves_no_temporary_files(tmp_path):
  model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
  spec = tf.TensorSpec([None, 3], tf.float32, name="x")
  endpoints = {"serve": (lambda x: {"y": model(x)}, [spec])}
  export.export_keras_model(model, str(tmp_path), endpoints)
  model.layers[0].kernel.assign(np.ones((3, 2), np.float32))
  export.export_keras_model(model, str(tmp_path), endpoints)
  assert sorted(os.listdir(tmp_path)) == ["model.keras", "saved_model"]
  reloaded = tf.saved_model.load(str(tmp_path / "saved_model"))
  y = reloaded.signatures["serving_default"](x=tf.ones([1, 3]))["y"]
  np.testing.assert_allclose(y.numpy(), [[3.0, 3.0]])
