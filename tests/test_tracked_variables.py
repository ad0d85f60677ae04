"""Every model keeps track of every variable it makes, and trains its weights.

A weight that the model creates but does not list is never updated, never
decayed (L2 sums over the listed weights), never counted and never saved: the
micro final cell once kept its input calibrations in a Python list filled by
index, which Keras 3 does not track (52,056 weights of the paper-size model
were lost that way). So, for every model class of the project at small sizes:

* every variable created while building the model and running it once
  (watched with `tf.variable_creator_scope`) is one of its weights
  (``trainable_weights`` + ``non_trainable_weights`` for Keras models), or
  one of its documented extra variables: random-stream states (Keras seed
  generators, ``tf.random.Generator``), optimizer slots and counters, each
  named below;
* every trainable weight gets a gradient (not None) from one training loss.
  A supergraph runs one child at a time, so there it is the union over a few
  fixed architectures (static arcs: only the chosen ops are in the graph);
  the union must cover every trainable weight.
"""

import gc
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

from child.nas_cnn import builder as nas_cnn
from child.nas_tree_cell import language_model as lm
from child.nas_tree_cell.cell import cell_factory
from controller import lstm_controller
from controller import search_space
from enas.image import final_common
from enas.image import ops as image_ops
from enas.image import spaces as image_spaces
from enas.macro import final_model as macro_final
from enas.macro import space as macro_space
from enas.macro import supergraph as macro_supergraph
from enas.micro import final_model as micro_final
from enas.micro import space as micro_space
from enas.micro import supergraph as micro_supergraph
from enas.recurrent import final_training as rnn_final
from enas.recurrent import space as rnn_space
from enas.recurrent import supergraph as rnn_supergraph


def _created(build):
  """``(build(), [every tf.Variable created while it ran and still alive])``.

  Variables dropped once built (e.g. a random generator used only for the
  initial values) are not the model's.
  """
  made = []

  def creator(next_creator, **kwargs):
    variable = next_creator(**kwargs)
    made.append(weakref.ref(variable))
    return variable

  with tf.variable_creator_scope(creator):
    result = build()
  gc.collect()
  return result, [v for v in (ref() for ref in made) if v is not None]


def _tf(variable):
  """The `tf.Variable` behind a Keras variable (itself otherwise)."""
  return variable.value if isinstance(variable, keras.Variable) else variable


def _untracked(made, declared):
  ids = {id(_tf(v)) for v in declared}
  return [v.name for v in made if id(v) not in ids]


def _keras_declared(model):
  """A Keras model's weights plus its seed generators' states."""
  seeds = [v for v in model.variables
           if v.path.endswith("seed_generator_state")]
  return list(model.weights) + seeds


def _missing_gradients(variables, grads_per_loss):
  """Names of `variables` that no loss in the list gave a gradient."""
  reached = set()
  for grads in grads_per_loss:
    reached |= {i for i, g in enumerate(grads) if g is not None}
  return [_tf(v).name for i, v in enumerate(variables) if i not in reached]


def _images(shape, batch=2):
  rng = np.random.default_rng(0)
  return tf.constant(rng.normal(size=(batch, *shape)), tf.float32)


def _xent(labels, logits):
  return tf.reduce_mean(
      tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


# ------------------------------------------------------------ image models
def _final_image_grads(model, shape):
  labels = tf.constant([1, 2])
  with tf.GradientTape() as tape:
    logits, aux = final_common.split_outputs(model(_images(shape),
                                                   training=True))
    loss = _xent(labels, logits)
    if aux is not None:
      loss += 0.4 * _xent(labels, aux)
  return tape.gradient(loss, model.trainable_weights)


IMAGE_FINAL_MODELS = {
    # 20x20 leaves 5x5 after two reductions: the aux head is built.
    "micro_final_concat": lambda: micro_final.build_micro_final(
        micro_space.PAPER_MICRO_ARC, input_shape=(20, 20, 3), num_classes=10,
        num_layers=3, out_filters=4),
    "micro_final_conv1x1": lambda: micro_final.build_micro_final(
        micro_space.PAPER_MICRO_ARC, input_shape=(20, 20, 3), num_classes=10,
        num_layers=3, out_filters=4, cell_output="conv1x1"),
    # Every skip on: every node, and so each of its factorized reductions,
    # is read. (Like the official fixed macro child, the model reduces every
    # node at a pool layer; a reduction no later layer reads has weights
    # that get no gradient.)
    "macro_final": lambda: macro_final.build_macro_final(
        macro_space.macro_space(6).from_tokens(
            [0, 1, 1, 2, 1, 1, 3, 1, 1, 1, 4, 1, 1, 1, 1, 5, 1, 1, 1, 1, 1]),
        input_shape=(16, 16, 3), num_classes=10, out_filters=4),
}


@pytest.mark.parametrize("name", sorted(IMAGE_FINAL_MODELS))
def test_final_image_model_tracks_and_trains_every_weight(name):
  model, made = _created(IMAGE_FINAL_MODELS[name])
  shape = model.image_shape
  model(_images(shape), training=True)
  assert made and not _untracked(made, _keras_declared(model))
  assert not _missing_gradients(model.trainable_weights,
                                [_final_image_grads(model, shape)])


def test_micro_final_cell_input_calibrations_are_weights():
  # The regression itself: a cell reading inputs of other widths calibrates
  # them, and the calibrations' weights are the model's.
  model = IMAGE_FINAL_MODELS["micro_final_concat"]()
  ids = {id(w) for w in model.trainable_weights}
  calibrations = [layer for cell in model.cells
                  for layer in (cell.calibrate_0, cell.calibrate_1)
                  if layer is not None]
  assert len(calibrations) == 2 * len(model.cells)
  assert all(id(w) in ids for layer in calibrations
             for w in layer.trainable_weights)


def test_nas_cnn_tracks_and_trains_every_weight():
  layers = [nas_cnn.ConvLayer(3, 3, 4),
            nas_cnn.ConvLayer(5, 3, 6, inputs=(0,))]
  model, made = _created(lambda: nas_cnn.build_cnn(layers, (8, 8, 3), 10))
  with tf.GradientTape() as tape:
    probs = model(_images((8, 8, 3)), training=True)
    loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
        tf.constant([1, 2]), probs)) + tf.add_n(model.losses)
  grads = tape.gradient(loss, model.trainable_weights)
  assert made and not _untracked(made, _keras_declared(model))
  assert not _missing_gradients(model.trainable_weights, [grads])


@pytest.mark.parametrize("tie_weights", [False, True])
def test_tree_cell_language_model_tracks_and_trains_every_weight(tie_weights):
  ids = tf.constant([[1, 2, 3], [4, 5, 6]])

  def build():
    model = lm.build_language_model(
        cell_factory("nas"), 11, 6, 8, 2, input_dropout=0.2,
        layer_dropout=0.2, output_dropout=0.2, tie_weights=tie_weights,
        seed=1)
    model(ids, training=True)
    return model

  model, made = _created(build)
  with tf.GradientTape() as tape:
    logits, _ = model(ids, training=True)
    loss = _xent(tf.reshape(ids, [-1]), tf.reshape(logits, [-1, 11]))
  grads = tape.gradient(loss, model.trainable_weights)
  assert made and not _untracked(made, _keras_declared(model))
  assert not _missing_gradients(model.trainable_weights, [grads])


# ------------------------------------------------------ image supergraphs
def _uniform_arcs(space):
  """One architecture per op, using that op at every position, every skip
  on, every input the latest one: together they use every op everywhere."""
  arcs = []
  for op in range(int(space.meta("num_ops"))):
    tokens = []
    for decision in space.decisions:
      if isinstance(decision, search_space.Categorical):
        tokens.append(op)
      elif isinstance(decision, search_space.Skip):
        tokens += [1] * decision.num_anchors
      elif isinstance(decision, search_space.Pick):
        tokens.append((decision.num_anchors - 1 - op) % decision.num_anchors)
    arcs.append(space.from_tokens(tokens))
  return arcs


SUPERGRAPHS = {
    "macro_supergraph": lambda: macro_supergraph.MacroSupergraph(
        macro_space.macro_space(4), input_shape=(8, 8, 3), num_classes=10,
        out_filters=4),
    "micro_supergraph": lambda: micro_supergraph.MicroSupergraph(
        micro_space.micro_space(3), input_shape=(20, 20, 3), num_classes=10,
        num_layers=3, out_filters=4, aux_weight=0.4),
}


@pytest.mark.parametrize("name", sorted(SUPERGRAPHS))
def test_supergraph_tracks_every_variable_and_trains_every_weight(name):
  model, made = _created(SUPERGRAPHS[name])
  images, labels = _images(model.image_shape), tf.constant([1, 2])
  arcs = _uniform_arcs(model.space)
  model.train_step(images, labels, arcs[0], 0.01)
  # Documented extras: Nesterov slots and the dropout stream.
  assert made and not _untracked(made, model.checkpoint_variables())
  assert not _untracked(made, list(model.weights) + list(model._sgd.slots)
                        + [model._dropout_seeds[0].state])
  grads_per_arc = []
  for arc in arcs:
    with tf.GradientTape() as tape:
      logits, aux = model._forward(images, image_ops.as_static_arc(arc), True)
      loss = _xent(labels, logits)
      if aux is not None:
        loss += model.aux_weight * _xent(labels, aux)
    grads_per_arc.append(tape.gradient(loss, model.trainable_weights))
  assert not _missing_gradients(model.trainable_weights, grads_per_arc)


# ------------------------------------------------------ recurrent models
def test_rnn_supergraph_tracks_every_variable_and_trains_every_weight():
  space = rnn_space.rnn_cell_space(4)
  model, made = _created(lambda: rnn_supergraph.RnnSupergraph(
      space, vocab_size=11, hidden_size=6))
  x = tf.constant([[1, 2, 3], [4, 5, 6]])
  state = model.initial_state(2)
  model.train_step(x, x, space.parse("0 0 1 1 2 2 3"), state, 0.1)
  # Documented extras: the dropout stream (in checkpoint_variables) and the
  # skipped-step counter.
  declared = model.checkpoint_variables() + [model.skipped_steps]
  assert made and not _untracked(made, declared)
  weights = [model.embedding, model.node0_weights, model.pair_weights]
  assert set(map(id, model.trainable_variables)) == set(map(id, weights))
  grads_per_arc = []
  for text in ("0 0 1 1 2 2 3", "1 0 0 0 0 0 0", "2 0 3 1 0 2 1"):
    arc = tf.constant(space.parse(text).tokens, tf.int32)
    with tf.GradientTape() as tape:
      node0, wiring = model.wiring(arc)  # gathers the arc's weight blocks
      nll, _ = rnn_supergraph.lm_nll(model.embedding, node0, wiring, x, x,
                                     state)
      loss = tf.reduce_mean(nll)
    grads_per_arc.append(tape.gradient(loss, weights))
  assert not _missing_gradients(weights, grads_per_arc)


@pytest.mark.parametrize("cell", [rnn_space.PAPER_FINAL_CELL, "lstm"])
def test_final_rnn_lm_tracks_and_trains_every_weight(cell):
  arc = cell if cell == "lstm" else rnn_space.decode_rnn(cell)
  model, made = _created(lambda: rnn_final.FinalRnnLM(
      arc, vocab_size=11, hidden_size=6, l2_reg=1e-4))
  x = tf.constant([[1, 2, 3], [4, 5, 6]])
  model.train_step(x, x, model.initial_state(2), 0.1)
  # Documented extra: the dropout stream (weights are `variables_list`).
  assert made and not _untracked(made, model.variables_list
                                 + [model._rng.state])
  assert set(map(id, model.trainable_variables)) == set(
      map(id, model.variables_list))
  with tf.GradientTape() as tape:
    nll, outputs, _ = model.nll(x, x, model.initial_state(2))
    loss = model.objective(nll, outputs, 2.0)
  grads = tape.gradient(loss, model.variables_list)
  assert not _missing_gradients(model.variables_list, [grads])


# ------------------------------------------------------------- controller
@pytest.mark.parametrize("space", [macro_space.macro_space(4),
                                   micro_space.micro_space(3),
                                   rnn_space.rnn_cell_space(4)],
                         ids=["macro", "micro", "rnn"])
def test_controller_tracks_and_trains_every_weight(space):
  controller, made = _created(
      lambda: lstm_controller.LSTMController(space, seed=0))
  assert made and not _untracked(made, controller.trainable_variables)
  rng = np.random.default_rng(0)
  tokens = tf.constant([image_spaces.random_architecture(space, rng).tokens
                        for _ in range(4)], tf.int32)
  variables = controller.trainable_variables
  with tf.GradientTape() as tape:
    log_prob, entropy, _ = controller.forward_batch(tokens)
    loss = -tf.reduce_sum(log_prob) - 1e-4 * tf.reduce_sum(entropy)
  assert not _missing_gradients(variables, [tape.gradient(loss, variables)])
