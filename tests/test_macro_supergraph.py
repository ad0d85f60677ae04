"""Specification of the ENAS macro supergraph (Pham et al. 2018 §2.3).

Small sizes: 6 layers, 8 filters, 8x8x3 images, batch 4.
"""

import numpy as np
import pytest
import keras
import tensorflow as tf

from enas.image import spaces as image_spaces
from enas.macro import space as spaces
from enas.macro.supergraph import MacroSupergraph
import supergraph_checks

LAYERS, BATCH, SHAPE = 6, 4, (8, 8, 3)
GRAD_BOUND = 1.0


@pytest.fixture(scope="module")
def space():
  return spaces.macro_space(num_layers=LAYERS)


@pytest.fixture(scope="module")
def model(space):
  keras.utils.set_random_seed(0)
  # No momentum and no weight decay: a step moves exactly the weights whose
  # loss gradient is nonzero, by learning_rate x the clipped gradient.
  return MacroSupergraph(space, input_shape=SHAPE, out_filters=8,
                         keep_prob=1.0, l2_reg=0.0, momentum=0.0,
                         grad_bound=GRAD_BOUND)


@pytest.fixture(scope="module")
def batch():
  rng = np.random.default_rng(1)
  images = tf.constant(rng.normal(size=(BATCH, *SHAPE)), tf.float32)
  labels = tf.constant(rng.integers(10, size=BATCH), tf.int32)
  return images, labels


@pytest.fixture(scope="module")
def graph_logits(model, space):
  """Logits through ONE compiled graph with the arc as a tensor input."""
  return tf.function(
      lambda images, arc: model.logits(images, arc, training=False),
      input_signature=(tf.TensorSpec([None, *SHAPE], tf.float32),
                       tf.TensorSpec([space.num_tokens], tf.int32)))


def _arc(space, ops, skips=None):
  tokens = []
  for layer, op in enumerate(ops):
    tokens += [op] + list((skips or {}).get(layer, [0] * layer))
  return space.from_tokens(tokens)


def _weights(model):
  return [v.numpy().copy() for v in model.trainable_weights]


def _changed(model, before):
  return {id(v): not np.array_equal(v.numpy(), b)
          for v, b in zip(model.trainable_weights, before)}


def test_every_sampled_architecture_gives_a_finite_loss(model, space, batch):
  rng = np.random.default_rng(0)
  for _ in range(10):
    arc = image_spaces.random_architecture(space, rng)
    out = model.train_step(*batch, arc, 0.01)
    assert np.isfinite(out["loss"].numpy()), arc.to_string()
    assert 0.0 <= out["accuracy"].numpy() <= 1.0


def test_train_step_traces_once_for_five_architectures(model, space, batch):
  rng = np.random.default_rng(5)
  arcs = {image_spaces.random_architecture(space, rng).tokens for _ in range(5)}
  assert len(arcs) == 5
  for tokens in arcs:
    model.train_step(*batch, tokens, 0.01)
    model.eval_accuracy(*batch, tokens)
  assert model.train_trace_count == 1
  assert model.trace_count == 2


def test_each_op_reaches_the_forward_pass(graph_logits, space, batch):
  # The official macro search built every tf.case branch as the last op, so
  # the op choice never changed the output. Here each op does.
  outputs = [graph_logits(batch[0], _arc(space, [0, 1, op, 2, 3, 0]).tokens)
             .numpy() for op in range(6)]
  for a in range(6):
    for b in range(a + 1, 6):
      assert not np.allclose(outputs[a], outputs[b]), (a, b)


def test_skip_bits_change_the_output(graph_logits, space, batch):
  base = _arc(space, [0] * LAYERS)
  more = _arc(space, [0] * LAYERS, skips={4: [0, 0, 1, 0]})
  assert not np.allclose(graph_logits(batch[0], base.tokens),
                         graph_logits(batch[0], more.tokens))


def test_switch_graph_equals_the_fixed_architecture(model, graph_logits,
                                                    space, batch):
  supergraph_checks.assert_switch_logits_equal_fixed(model, graph_logits,
                                                     space, batch[0], seed=3)


def test_switch_graph_gradients_equal_the_fixed_architecture(model, space,
                                                             batch):
  # Skip sums and the op switch back-propagate like the fixed child's graph.
  supergraph_checks.assert_switch_gradients_equal_fixed(model, space, *batch,
                                                        seed=11)


def _kernels(layer):
  """Conv kernels of a branch or block (batch-norm scales excluded: a scale
  followed by ReLU and another batch norm can have an exactly zero gradient)."""
  return [v for v in layer.trainable_weights
          if v.name in ("kernel", "depthwise", "pointwise")]


def test_only_the_chosen_ops_are_trained(model, space, batch):
  ops = [3, 5, 0, 4, 1, 2]
  arc = _arc(space, ops, skips={3: [1, 0, 1], 5: [0, 1, 0, 0, 1]})
  before = _weights(model)
  model.train_step(*batch, arc, 0.1)
  changed = _changed(model, before)
  for layer, chosen in enumerate(ops):
    for op, branch in enumerate(model.ops[layer]):
      if op == chosen:
        assert _kernels(branch)
        assert all(changed[id(v)] for v in _kernels(branch)), (layer, op)
      else:
        assert not any(changed[id(v)] for v in branch.trainable_weights), (
            layer, op)
  assert all(changed[id(v)] for v in _kernels(model.stem))


def test_gradient_is_clipped_to_the_global_norm(model, space, batch):
  arc = _arc(space, [0, 2, 0, 2, 0, 2])
  before = _weights(model)
  lr = 0.01
  out = model.train_step(*batch, arc, lr)
  assert out["grad_norm"].numpy() > GRAD_BOUND  # precondition
  step = np.sqrt(sum(np.sum((v.numpy() - b) ** 2)
                     for v, b in zip(model.trainable_weights, before)))
  assert step / lr == pytest.approx(GRAD_BOUND, rel=1e-3)


def test_loss_decreases_on_a_fixed_batch(model, space, batch):
  arc = _arc(space, [0, 1, 2, 3, 4, 5], skips={2: [1, 1], 4: [0, 1, 0, 1]})
  losses = [float(model.train_step(*batch, arc, 0.05)["loss"])
            for _ in range(8)]
  assert losses[-1] < 0.5 * losses[0], losses


def test_official_final_arc_builds_with_24_layers():
  space = spaces.macro_space(num_layers=24)
  arc = space.parse(spaces.PAPER_MACRO_ARC)
  model = MacroSupergraph(space, input_shape=SHAPE, out_filters=4)
  logits = model.logits(tf.ones([2, *SHAPE]), arc)  # eager: chosen ops only
  assert logits.shape == (2, 10)
  assert np.all(np.isfinite(logits.numpy()))
  assert len(model.reductions) == 2 and len(model.reductions[1]) == 17


def test_standalone_step_uses_only_the_chosen_ops_weights(model, space):
  arc = _arc(space, [1, 1, 1, 1, 1, 1])
  step = model.fixed_train_step(arc)
  used = {id(v) for v in step.variables_used}
  for layer in range(LAYERS):
    for op, branch in enumerate(model.ops[layer]):
      assert all((id(v) in used) == (op == 1)
                 for v in branch.trainable_weights)
