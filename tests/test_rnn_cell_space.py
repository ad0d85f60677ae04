"""Zoph & Le 2017 §3.4: the recurrent-cell search space and its text format."""

import dataclasses

import numpy as np
import pytest

from child.nas_tree_cell import space as rcs
from controller.search_space import ArchitectureError, Categorical, SearchSpace


@pytest.mark.parametrize("base", [2, 4, 8])
def test_a_full_binary_tree_with_leaves_first_and_the_root_last(base):
  n = rcs.num_nodes(base)
  assert n == 2 * base - 1
  assert rcs.root(base) == n - 1
  parents = {}
  for node in range(n):
    kids = rcs.children(base, node)
    assert (kids is None) == (node < base)
    for kid in kids or ():
      assert kid < node
      assert kid not in parents, "every node has one parent"
      parents[kid] = node
  assert sorted(parents) == list(range(n - 1))


def test_base_8_tree_pairs_neighbours_level_by_level():
  assert [rcs.children(8, n) for n in range(8, 15)] == [
      (0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (12, 13)]


@pytest.mark.parametrize("base", [2, 4, 8])
def test_each_node_picks_a_combination_and_activation_then_inject_then_indices(
    base):
  space = rcs.tree_cell_space(base)
  n = rcs.num_nodes(base)
  assert space.num_tokens == 4 * base + 2
  assert all(isinstance(d, Categorical) for d in space.decisions)
  kinds = [d.kind for d in space.decisions]
  assert kinds[:2 * n + 2] == ["combine", "activation"] * (n + 1)
  assert space.decisions[0].choices == ("add", "elem_mult")
  assert space.decisions[1].choices == ("identity", "tanh", "sigmoid", "relu")
  assert [d.name for d in space.decisions[-4:]] == [
      "inject/combine", "inject/activation", "cell_index/output",
      "cell_index/inject"]
  assert space.decisions[-1].choices == tuple(range(n))


def test_figure_5_walk_through_decodes_to_the_papers_cell():
  # Tree index 0: add, tanh; 1: elem_mult, relu; 2: elem_mult, sigmoid;
  # cell inject: add, relu; cell indices: c_t from index 1, inject into 0.
  arc = rcs.tree_cell_space(2).parse("0 1 1 3 1 2 0 3 1 0")
  spec = rcs.decode(arc)
  assert spec.combinations == ("add", "elem_mult", "elem_mult")
  assert spec.activations == ("tanh", "relu", "sigmoid")
  assert (spec.inject_combination, spec.inject_activation) == ("add", "relu")
  assert spec.cell_output_node == 1 and spec.inject_node == 0
  assert spec.equations() == [
      "a0 = tanh(W0 x + (U0 h + b0))",
      "a0_new = relu(a0 + c_prev)",
      "a1 = relu(W1 x * (U1 h + b1))",
      "a2 = sigmoid(a0_new * a1)",
      "c = pre-activation of a1",
      "h = a2",
  ]


@pytest.mark.parametrize("base", [2, 4, 8])
def test_decode_and_encode_are_inverse_on_random_architectures(base):
  space = rcs.tree_cell_space(base)
  rng = np.random.default_rng(base)
  for _ in range(20):
    tokens = [rng.integers(len(d.choices)) for d in space.decisions]
    arc = space.from_tokens(tokens)
    spec = rcs.decode(arc)
    assert spec.to_architecture() == arc
    assert space.parse(arc.to_string()) == arc
    assert rcs.TreeCellSpec.from_dict(spec.to_dict()) == spec


def test_bad_inputs_are_rejected():
  with pytest.raises(ValueError):
    rcs.tree_cell_space(3)
  with pytest.raises(ArchitectureError, match="cell_index/inject"):
    rcs.tree_cell_space(2).parse("0 1 1 3 1 2 0 3 1 3")
  base4 = rcs.tree_cell_space(4)
  impostor = SearchSpace("impostor", base4.decisions, metadata=base4.metadata)
  with pytest.raises(ValueError, match="not a tree_cell_space"):
    rcs.decode(impostor.from_tokens([0] * impostor.num_tokens))
  spec = rcs.lstm_equivalent_spec()
  with pytest.raises(ValueError, match="cell_output_node"):
    dataclasses.replace(spec, cell_output_node=15)


def test_the_published_cell_is_a_point_of_the_base_8_space():
  spec = rcs.paper_nas_cell_spec()
  assert rcs.decode(spec.to_architecture()) == spec
  assert spec.inject_node == 8 and spec.cell_output_node == 12
  assert (spec.inject_combination, spec.inject_activation) == ("add", "tanh")
  assert spec.equations()[-1] == "h = a14"
  assert "a14 = tanh(a12 * a13)" in spec.equations()


def test_the_lstm_tree_is_a_point_of_the_base_8_space():
  spec = rcs.lstm_equivalent_spec()
  assert rcs.decode(spec.to_architecture()) == spec
  assert "a8_new = identity(a8 * c_prev)" in spec.equations()
  assert "a12 = tanh(a8_new + a9)" in spec.equations()
