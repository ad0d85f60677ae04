"""The architecture representation: one token sequence, one string format."""

import json

import pytest

from controller import search_space as ss


def small_space():
  return ss.SearchSpace("toy", (
      ss.Categorical("layer_0/op", ("a", "b", "c"), kind="op"),
      ss.Skip("layer_0/inputs", 0),
      ss.Categorical("layer_1/op", ("a", "b", "c"), kind="op"),
      ss.Skip("layer_1/inputs", 1),
      ss.Categorical("layer_2/op", ("a", "b", "c"), kind="op"),
      ss.Skip("layer_2/inputs", 2),
  ))


def test_string_round_trip():
  space = small_space()
  arc = space.parse("2 0 1 1 0 1")
  assert arc.tokens == (2, 0, 1, 1, 0, 1)
  assert space.parse(arc.to_string()) == arc
  assert arc.values()["layer_2/inputs"] == [0, 1]


def test_json_names_every_decision():
  arc = small_space().parse("2 0 1 1 0 1")
  data = json.loads(arc.to_json())
  assert data["arc"] == "2 0 1 1 0 1"
  assert data["decisions"]["layer_0/op"] == "c"


@pytest.mark.parametrize("text, position", [
    ("3 0 1 1 0 1", 0),      # op index out of range
    ("2 0 2 1 0 1", 2),      # skip bit that is not 0/1
    ("2 0 1 1 0 7", 5),      # the second bit of a skip decision
    ("2 0 1 1 0 x", 5),      # not an integer
])
def test_parse_names_the_first_bad_position(text, position):
  with pytest.raises(ss.ArchitectureError, match=f"position {position}"):
    small_space().parse(text)


def test_parse_rejects_the_wrong_length():
  with pytest.raises(ss.ArchitectureError, match="expected 6 integers, got 5"):
    small_space().parse("2 0 1 1 0")


def test_string_order_maps_text_positions_to_sampling_order():
  # Sampled as index_1, index_2, op_1, op_2; written as index_1 op_1 index_2 op_2.
  space = ss.SearchSpace("cell", (
      ss.AnchorStep("in_0"), ss.AnchorStep("in_1"),
      ss.Pick("node_2/index_1", 2), ss.Pick("node_2/index_2", 2),
      ss.Categorical("node_2/op_1", tuple(range(5)), kind="op"),
      ss.Categorical("node_2/op_2", tuple(range(5)), kind="op"),
  ), string_order=(0, 2, 1, 3))
  arc = space.parse("1 4 0 3")
  assert arc.tokens == (1, 0, 4, 3)
  assert arc.to_string() == "1 4 0 3"
  with pytest.raises(ss.ArchitectureError, match="position 2"):
    space.parse("1 4 2 3")


def test_a_skip_must_see_exactly_the_anchors_before_it():
  with pytest.raises(ValueError, match="num_anchors"):
    ss.SearchSpace("bad", (ss.Skip("a", 1),))


def test_a_space_declares_its_entropy_form_full_by_default():
  assert small_space().entropy_form == "full"
  with pytest.raises(ValueError, match="entropy_form"):
    ss.SearchSpace("toy", small_space().decisions, entropy_form="mean")
