"""Specification of the ENAS micro supergraph (Pham et al. 2018 §2.4).

Small sizes: 2 normal + 2 reduction cells of 2 nodes, 4 filters, 8x8x3
images, batch 4 (the official 5-node cells are built eagerly).
"""

import numpy as np
import pytest
import keras
import tensorflow as tf

from enas.image import spaces as image_spaces
from enas.micro import space as spaces
from enas.micro.supergraph import MicroSupergraph
import supergraph_checks

NODES, BATCH, SHAPE = 2, 4, (8, 8, 3)


@pytest.fixture(scope="module")
def space():
  return spaces.micro_space(num_nodes=NODES)


@pytest.fixture(scope="module")
def model(space):
  keras.utils.set_random_seed(0)
  # No momentum and no weight decay: a step moves exactly the weights whose
  # loss gradient is nonzero. No auxiliary head: 8x8 images are too small.
  return MicroSupergraph(space, input_shape=SHAPE, num_layers=2,
                         out_filters=4, keep_prob=1.0, l2_reg=0.0,
                         momentum=0.0, aux_weight=0.0)


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


BASE = "0 0 1 1  2 1 0 3"  # index_1 op_1 index_2 op_2 per node


def _arc(space, normal=BASE, reduction=BASE):
  return space.parse(normal + " " + reduction)


def test_cells_sit_at_the_official_positions(model):
  assert model.reduction_cells == (0, 1)
  assert [cell.filters for cell in model.cells] == [8, 16, 16, 16]


def test_every_sampled_architecture_gives_a_finite_loss(model, space, batch):
  rng = np.random.default_rng(0)
  for _ in range(10):
    arc = image_spaces.random_architecture(space, rng)
    out = model.train_step(*batch, arc, 0.01)
    assert np.isfinite(out["loss"].numpy()), arc.to_string()


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
  outputs = [graph_logits(batch[0], _arc(space, f"0 {op} 1 1  2 1 0 3")
                          .tokens).numpy() for op in range(5)]
  for a in range(5):
    for b in range(a + 1, 5):
      assert not np.allclose(outputs[a], outputs[b]), (a, b)


def test_input_indices_change_the_output(graph_logits, space, batch):
  other = _arc(space, reduction="0 0 1 1  2 1 1 3")
  assert not np.allclose(graph_logits(batch[0], _arc(space).tokens),
                         graph_logits(batch[0], other.tokens))


def test_switch_graph_equals_the_fixed_architecture(model, graph_logits,
                                                    space, batch):
  supergraph_checks.assert_switch_logits_equal_fixed(model, graph_logits,
                                                     space, batch[0], seed=3)


def test_switch_graph_gradients_equal_the_fixed_architecture(model, space,
                                                             batch):
  # Several reads of one node id and the gathered loose ends back-propagate
  # exactly like the fixed cell's graph.
  supergraph_checks.assert_switch_gradients_equal_fixed(model, space, *batch,
                                                        seed=11)


def test_only_the_chosen_weight_sets_are_trained(model, space, batch):
  normal, reduction = "0 1 1 0  2 0 1 2", "1 0 0 1  2 1 0 4"
  arc = _arc(space, normal, reduction)
  before = {id(v): v.numpy().copy() for v in model.trainable_weights}
  model.train_step(*batch, arc, 0.1)

  def rows_moved(table):
    return [not np.array_equal(a, b)
            for a, b in zip(table.numpy(), before[id(table)])]

  decoded = spaces.decode_micro(arc)
  for position, cell in enumerate(model.cells):
    spec = decoded.reduction if position in (0, 1) else decoded.normal
    # One weight set (table row) per (node, input slot, input id, op).
    chosen = {(op, cell.weight_row(n, slot, source))
              for n, node in enumerate(spec.nodes)
              for slot, (source, op) in enumerate(((node.index_1, node.op_1),
                                                   (node.index_2, node.op_2)))}
    for conv_op, conv in enumerate(cell.convs):
      expected = [(conv_op, row) in chosen
                  for row in range(cell.num_weight_sets)]
      # A row holds every weight of one set (kernels and batch-norm scale
      # and shift): exactly the chosen rows move.
      assert rows_moved(conv.table) == expected, (position, conv_op)
    # The output conv reads only the loose ends' rows of its kernel.
    f = cell.filters
    moved = rows_moved(cell.out_kernel)
    for i in range(NODES + 2):
      assert all(moved[i * f:(i + 1) * f]) == (i in spec.loose_ends)
      assert any(moved[i * f:(i + 1) * f]) == (i in spec.loose_ends)


def test_norm_clip_treats_each_weight_set_alone_in_the_switch_graph(space, batch):
  # The official code kept every weight set as its own variables, clipped one
  # by one (clip_mode="norm"). Inside the node loop a table's gradient comes
  # back dense, yet the switch step must still clip it row by row, exactly as
  # the fixed architecture's step (where it is sparse) does.
  keras.utils.set_random_seed(0)
  model = MicroSupergraph(space, input_shape=SHAPE, num_layers=2,
                          out_filters=4, keep_prob=1.0, l2_reg=0.0,
                          momentum=0.0, aux_weight=0.0, grad_bound=1e-3)
  model.clip_mode = "norm"
  arc = _arc(space, "0 1 1 0  2 0 1 2", "1 0 0 1  2 1 0 4")
  start = [v.numpy().copy() for v in model.trainable_weights]
  switch = model.train_step(*batch, arc, 1.0)
  after_switch = [v.numpy().copy() for v in model.trainable_weights]
  for v, value in zip(model.trainable_weights, start):
    v.assign(value)
  fixed = model.fixed_train_step(arc)(*batch, tf.constant(1.0))
  tables = [i for i, v in enumerate(model.trainable_weights) if v.name == "weight_sets"]
  assert tables
  for i in tables:
    np.testing.assert_allclose(after_switch[i], model.trainable_weights[i].numpy(), atol=1e-6)
  assert float(switch["max_grad_norm"]) == pytest.approx(float(fixed["max_grad_norm"]), rel=1e-4)


def test_loss_decreases_on_a_fixed_batch(model, space, batch):
  arc = _arc(space)
  losses = [float(model.train_step(*batch, arc, 0.1)["loss"])
            for _ in range(8)]
  assert losses[-1] < 0.8 * losses[0], losses


def test_official_final_cells_build_with_five_nodes():
  space = spaces.micro_space(num_nodes=5)
  arc = space.parse(spaces.PAPER_MICRO_ARC)
  model = MicroSupergraph(space, input_shape=SHAPE, num_layers=2,
                          out_filters=4, aux_weight=0.0)
  logits = model.logits(tf.ones([2, *SHAPE]), arc)  # eager: chosen ops only
  assert logits.shape == (2, 10)
  assert np.all(np.isfinite(logits.numpy()))


def test_auxiliary_head_is_trained_with_the_child():
  # The official code left the auxiliary head out of the optimizer.
  space = spaces.micro_space(num_nodes=2)
  model = MicroSupergraph(space, input_shape=(32, 32, 3), num_layers=2,
                          out_filters=4, aux_weight=0.4, l2_reg=0.0)
  assert model.aux_index == 2
  step = model.fixed_train_step(space.parse("0 0 1 2 2 4 0 3 " * 2))
  head = model.aux_head.trainable_weights
  before = [v.numpy().copy() for v in head]
  rng = np.random.default_rng(0)
  step(tf.constant(rng.normal(size=(2, 32, 32, 3)), tf.float32),
       tf.constant([1, 2], tf.int32), 0.1)
  assert all(not np.array_equal(v.numpy(), b) for v, b in zip(head, before))
