"""A cell's hidden states, readable by a tensor index (ENAS micro cells, §2.4).

In a micro cell (Pham et al. 2018, §2.4) node n reads two earlier ids chosen
by the architecture. With the architecture a tensor, the read needs an index
into the ids built so far. `IdTable` keeps them in a write-once TensorList:
a read costs no copy (stacking the ids for a gather would copy them all), and
its gradient reaches the one id read (a ``tf.switch_case`` over the ids would
produce a zero gradient for every unread id at every read).

TensorFlow's own TensorList gradients ask the forward list and items for
their shapes (``TensorListLength``, ``TensorListElementShape``, ``ZerosLike``
of each written item), which keeps every id of every cell alive until the
backward pass. Here the shapes are static and each table is written once per
index, so the gradients below use neither the forward list nor the items:

* read ``y = list[i]``: ``dlist = a list of empty slots with dy at i``;
* gather ``y = stack(list[i] for i in indices)``: the same at each index;
* write ``list' = set(list, i, x)``: ``dx = dlist'[i]``, and ``dlist =
  dlist'`` unchanged (slot i was empty before the write, so the gradient
  there reaches nothing upstream; empty slots add as zeros).
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf


class IdTable:
  """A write-once table of same-shaped tensors, indexed by int32 scalars."""

  def __init__(self, size: int, element_shape: Sequence[int | None],
               dtype: tf.DType = tf.float32):
    """An empty table.

    Args:
      size: number of slots.
      element_shape: the shape of every element (batch may be None).
      dtype: element dtype.
    """
    self._size = size
    self._shape = tf.TensorShape(element_shape)
    self._dtype = dtype
    self._handle = self._reserve()
    self._written = set()

  @property
  def handle(self) -> tf.Tensor:
    """The TensorList holding the slots (a loop variable in a while loop)."""
    return self._handle

  def view(self, handle: tf.Tensor) -> "IdTable":
    """This table's slots as held by `handle` (e.g. inside a loop body).

    The view shares the record of slots written by Python index; slots
    written by a tensor index are the caller's to keep distinct.
    """
    other = object.__new__(IdTable)
    other.__dict__.update(self.__dict__)
    other._handle = handle
    return other

  def _reserve(self) -> tf.Tensor:
    return tf.raw_ops.TensorListReserve(
        element_shape=_shape_tensor(self._shape), num_elements=self._size,
        element_dtype=self._dtype)

  def write(self, index, value: tf.Tensor) -> None:
    """Stores `value` at slot `index` (an int or a scalar int32 tensor).

    Raises:
      ValueError: the slot (a Python int) was written before (the gradients
        assume a write-once table) or is out of range. Tensor indices are not
        checked: the caller writes each slot once.
    """
    if not isinstance(index, tf.Tensor):
      if index in self._written or not 0 <= index < self._size:
        raise ValueError(f"slot {index} of a write-once table of "
                         f"{self._size} slots: written before or out of range")
      self._written.add(index)
    shape, dtype = self._shape, self._dtype

    @tf.custom_gradient
    def set_item(handle, item):
      def grad(dhandle):
        ditem = tf.raw_ops.TensorListGetItem(
            input_handle=dhandle, index=index,
            element_shape=_shape_tensor(shape), element_dtype=dtype)
        return dhandle, tf.ensure_shape(ditem, item_shape)
      return tf.raw_ops.TensorListSetItem(input_handle=handle, index=index,
                                          item=item), grad

    item_shape = value.shape
    self._handle = set_item(self._handle, value)

  def read(self, index) -> tf.Tensor:
    """The element at slot `index` (an int or a scalar int32 tensor)."""
    shape, dtype, size = self._shape, self._dtype, self._size

    @tf.custom_gradient
    def get_item(handle):
      def grad(dvalue):
        empty = tf.raw_ops.TensorListReserve(
            element_shape=_shape_tensor(shape), num_elements=size,
            element_dtype=dtype)
        return tf.raw_ops.TensorListSetItem(input_handle=empty, index=index,
                                            item=dvalue)
      value = tf.raw_ops.TensorListGetItem(
          input_handle=handle, index=index,
          element_shape=_shape_tensor(shape), element_dtype=dtype)
      return tf.ensure_shape(value, item_shape), grad

    item_shape = self._shape
    return get_item(self._handle)


  def gather(self, indices: tf.Tensor) -> tf.Tensor:
    """The elements at `indices` (int32 vector), stacked on a new axis 0."""
    shape, dtype, size = self._shape, self._dtype, self._size

    @tf.custom_gradient
    def gather(handle):
      def grad(dvalues):
        return tf.raw_ops.TensorListScatterV2(
            tensor=dvalues, indices=indices,
            element_shape=_shape_tensor(shape), num_elements=size)
      values = tf.raw_ops.TensorListGather(
          input_handle=handle, indices=indices,
          element_shape=_shape_tensor(shape), element_dtype=dtype)
      return tf.ensure_shape(values, [None, *shape.as_list()]), grad

    return gather(self._handle)


def _shape_tensor(shape: tf.TensorShape) -> tf.Tensor:
  return tf.constant([-1 if d is None else d for d in shape.as_list()],
                     tf.int32)
