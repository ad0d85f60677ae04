"""Keras 3 recurrent cells for the §3.4 search space (Zoph & Le 2017).

`TreeCell` builds any `TreeCellSpec` (see `child.nas_tree_cell.space` for the
node numbering and semantics) as a cell for `keras.layers.RNN`. Its state is
``[h, c]``, the same order as `keras.layers.LSTMCell`, so the two are
interchangeable in `child.nas_tree_cell.language_model`.

Parameters: ``kernel`` (input_dim, base * units), ``recurrent_kernel``
(units, base * units) and ``bias`` (base * units,). Slice i (columns
``i * units .. (i + 1) * units``) is leaf i's W_i, U_i, b_i, so every step
does one matmul for x_t and one for h_{t-1} for all leaves together. As in
TF1's ``NASCell``, the bias is added to the h projection before the leaf's
combination: ``W x + (U h + b)`` or ``W x * (U h + b)``.

`cell_factory` turns a spec, an architecture, ``"lstm"`` or ``"nas"`` (the
published cell) into a ``units -> cell`` callable for the language model.
"""

from __future__ import annotations

from typing import Callable, Union

import keras
from keras import ops

from child.nas_tree_cell import space as rnn_cell_space
from child.nas_tree_cell.space import TreeCellSpec
from controller.search_space import Architecture

_ACTIVATIONS = {
    "identity": lambda x: x,
    "tanh": ops.tanh,
    "sigmoid": ops.sigmoid,
    "relu": ops.relu,
}
_COMBINATIONS = {
    "add": ops.add,
    "elem_mult": ops.multiply,
}


@keras.saving.register_keras_serializable(package="rlnas")
class TreeCell(keras.layers.Layer):
  """A §3.4 tree cell: ``(x_t, [h_{t-1}, c_{t-1}]) -> (h_t, [h_t, c_t])``.

  Args:
    spec: the cell (a `TreeCellSpec` or its `to_dict()`).
    units: size of h and c.
    kernel_initializer: for the x projections of all leaves.
    recurrent_initializer: for the h projections of all leaves.
    bias_initializer: for the leaves' biases.
  """

  def __init__(self, spec: Union[TreeCellSpec, dict], units: int,
               kernel_initializer="glorot_uniform",
               recurrent_initializer="orthogonal",
               bias_initializer="zeros", **kwargs):
    super().__init__(**kwargs)
    if isinstance(spec, dict):
      spec = TreeCellSpec.from_dict(spec)
    self.spec = spec
    self.units = int(units)
    self.kernel_initializer = keras.initializers.get(kernel_initializer)
    self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
    self.bias_initializer = keras.initializers.get(bias_initializer)
    self.state_size = [self.units, self.units]
    self.output_size = self.units

  def build(self, input_shape):
    width = self.spec.base * self.units
    self.kernel = self.add_weight(
        shape=(input_shape[-1], width), name="kernel",
        initializer=self.kernel_initializer)
    self.recurrent_kernel = self.add_weight(
        shape=(self.units, width), name="recurrent_kernel",
        initializer=self.recurrent_initializer)
    self.bias = self.add_weight(
        shape=(width,), name="bias", initializer=self.bias_initializer)
    super().build(input_shape)

  def call(self, inputs, states, training=False):
    del training
    h_prev, c_prev = states[0], states[1]
    spec = self.spec
    x_parts = ops.split(ops.matmul(inputs, self.kernel), spec.base, axis=-1)
    h_parts = ops.split(
        ops.add(ops.matmul(h_prev, self.recurrent_kernel), self.bias),
        spec.base, axis=-1)
    outputs, new_c = [], None
    for node in range(spec.num_nodes):
      kids = spec.children(node)
      if kids is None:
        left, right = x_parts[node], h_parts[node]
      else:
        left, right = outputs[kids[0]], outputs[kids[1]]
      pre = _COMBINATIONS[spec.combinations[node]](left, right)
      if node == spec.cell_output_node:
        new_c = pre
      out = _ACTIVATIONS[spec.activations[node]](pre)
      if node == spec.inject_node:
        out = _ACTIVATIONS[spec.inject_activation](
            _COMBINATIONS[spec.inject_combination](out, c_prev))
      outputs.append(out)
    new_h = outputs[spec.root]
    return new_h, [new_h, new_c]

  def get_config(self):
    config = super().get_config()
    config.update({
        "spec": self.spec.to_dict(),
        "units": self.units,
        "kernel_initializer": keras.initializers.serialize(
            self.kernel_initializer),
        "recurrent_initializer": keras.initializers.serialize(
            self.recurrent_initializer),
        "bias_initializer": keras.initializers.serialize(
            self.bias_initializer),
    })
    return config


def nas_cell(units: int, **kwargs) -> TreeCell:
  """The published Zoph & Le PTB cell (`paper_nas_cell_spec`)."""
  return TreeCell(rnn_cell_space.paper_nas_cell_spec(), units, **kwargs)


def lstm_cell(units: int, **kwargs) -> keras.layers.LSTMCell:
  """The LSTM baseline: Keras' own cell (state ``[h, c]``)."""
  return keras.layers.LSTMCell(units, **kwargs)


CellLike = Union[str, TreeCellSpec, Architecture, Callable[[int], object]]


def cell_factory(what: CellLike) -> Callable[[int], keras.layers.Layer]:
  """A ``units -> recurrent cell`` callable for `what`.

  Args:
    what: ``"lstm"``, ``"nas"`` (the published cell), a `TreeCellSpec`, an
      `Architecture` of a `tree_cell_space`, or already such a callable
      (returned unchanged).

  Raises:
    ValueError: an unknown name or an architecture of another space.
  """
  if isinstance(what, str):
    named = {"lstm": lstm_cell, "nas": nas_cell}
    if what not in named:
      raise ValueError(f"unknown cell {what!r}; known {sorted(named)}")
    return named[what]
  if isinstance(what, Architecture):
    what = rnn_cell_space.decode(what)
  if isinstance(what, TreeCellSpec):
    spec = what
    return lambda units: TreeCell(spec, units)
  if callable(what):
    return what
  raise ValueError(f"cannot make a cell from {what!r}")
