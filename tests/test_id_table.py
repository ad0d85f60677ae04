"""Specification of `enas.micro.id_table.IdTable`, the micro cell's id store (§2.4).

Reads at tensor indices must give the written values, and the gradients must
equal those of plain Python indexing: each read's gradient reaches the one
item read, several reads of one item add, unread items get zero.
"""

import numpy as np
import pytest
import tensorflow as tf

from enas.micro.id_table import IdTable

SHAPE = (None, 3)


def _items(seed=0):
  rng = np.random.default_rng(seed)
  return [tf.constant(rng.normal(size=(2, 3)).astype(np.float32))
          for _ in range(4)]


def _loss(values, weights):
  return sum(tf.reduce_sum(v * w) for v, w in zip(values, weights))


@tf.function(autograph=False)
def _table_grads(items, reads, weights):
  with tf.GradientTape() as tape:
    tape.watch(items)
    table = IdTable(len(items), SHAPE)
    for i, item in enumerate(items):
      table.write(i, item)
    values = [table.read(r) for r in tf.unstack(reads)]
    loss = _loss(values, weights)
  return values, tape.gradient(loss, items)


def _reference_grads(items, reads, weights):
  with tf.GradientTape() as tape:
    tape.watch(items)
    values = [items[int(r)] for r in reads]
    loss = _loss(values, weights)
  return values, tape.gradient(loss, items, unconnected_gradients="zero")


def test_reads_and_gradients_equal_python_indexing():
  items = _items()
  reads = np.array([2, 0, 2, 3], np.int32)  # item 1 unread, item 2 twice
  weights = [tf.constant(np.full((2, 3), k + 1.0, np.float32))
             for k in range(len(reads))]
  values, grads = _table_grads(items, tf.constant(reads), weights)
  want_values, want_grads = _reference_grads(items, reads, weights)
  for got, want in zip(values, want_values):
    np.testing.assert_array_equal(got.numpy(), want.numpy())
  for got, want in zip(grads, want_grads):
    np.testing.assert_allclose(got.numpy(), want.numpy())
  np.testing.assert_array_equal(grads[1].numpy(), np.zeros((2, 3)))
  np.testing.assert_allclose(grads[2].numpy(), np.full((2, 3), 4.0))


def test_the_batch_dimension_stays_dynamic():
  table = IdTable(2, SHAPE)
  table.write(0, tf.zeros((5, 3)))
  table.write(1, tf.ones((5, 3)))
  np.testing.assert_array_equal(table.read(tf.constant(1)).numpy(),
                                np.ones((5, 3)))


def test_gather_and_its_gradient_equal_python_indexing():
  items = _items(seed=1)
  indices = np.array([3, 1], np.int32)
  weight = tf.constant(np.arange(12, dtype=np.float32).reshape(2, 2, 3))

  @tf.function(autograph=False)
  def table_grads(items, indices):
    with tf.GradientTape() as tape:
      tape.watch(items)
      table = IdTable(len(items), SHAPE)
      for i, item in enumerate(items):
        table.write(i, item)
      values = table.gather(indices)
      loss = tf.reduce_sum(values * weight)
    return values, tape.gradient(loss, items)

  values, grads = table_grads(items, tf.constant(indices))
  np.testing.assert_array_equal(
      values.numpy(), np.stack([items[i].numpy() for i in indices]))
  for i, grad in enumerate(grads):
    want = weight[list(indices).index(i)] if i in indices else tf.zeros((2, 3))
    np.testing.assert_allclose(grad.numpy(), want.numpy())


def test_a_slot_is_written_once():
  table = IdTable(2, SHAPE)
  table.write(0, tf.zeros((1, 3)))
  with pytest.raises(ValueError, match="write-once"):
    table.write(0, tf.ones((1, 3)))
  with pytest.raises(ValueError, match="out of range"):
    table.write(2, tf.ones((1, 3)))


def test_a_while_loop_writes_by_tensor_index_and_gradients_flow_back():
  # The micro cell's loop: node n reads an earlier slot and writes slot n + 2
  # through a view of the loop's TensorList.
  items = _items(seed=2)[:2]
  reads = tf.constant([1, 0, 2], tf.int32)  # slot 2 <- 1, 3 <- 0, 4 <- 2
  scales = tf.constant([2.0, 3.0, 5.0])

  @tf.function(autograph=False)
  def loop_grads(items):
    with tf.GradientTape() as tape:
      tape.watch(items)
      table = IdTable(5, SHAPE)
      table.write(0, items[0])
      table.write(1, items[1])

      def body(n, handle):
        view = table.view(handle)
        view.write(n + 2, scales[n] * view.read(reads[n]))
        return n + 1, view.handle

      _, handle = tf.while_loop(lambda n, _: n < 3, body,
                                (tf.constant(0), table.handle))
      out = table.view(handle).gather(tf.constant([3, 4]))
      loss = tf.reduce_sum(out)
    return out, tape.gradient(loss, items)

  out, grads = loop_grads(items)
  # slot 3 = 3 * item0, slot 4 = 5 * slot 2 = 10 * item1.
  np.testing.assert_allclose(out.numpy(), np.stack(
      [3.0 * items[0].numpy(), 10.0 * items[1].numpy()]), rtol=1e-6)
  np.testing.assert_allclose(grads[0].numpy(), np.full((2, 3), 3.0))
  np.testing.assert_allclose(grads[1].numpy(), np.full((2, 3), 10.0))
