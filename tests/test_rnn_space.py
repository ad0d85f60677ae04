"""Specification of enas/rnn_space.py: the ENAS recurrent cell space (§2.2)."""

import pytest

from controller.search_space import (AnchorStep, ArchitectureError,
                                     Categorical, Pick)
from enas.recurrent.space import (ACTIVATIONS, PAPER_FINAL_CELL, RnnCell, decode_rnn,
                            rnn_cell_space)


def test_twelve_nodes_give_twenty_three_tokens_in_official_order():
  space = rnn_cell_space(12)
  assert space.num_tokens == 23
  assert ACTIVATIONS == ("tanh", "relu", "identity", "sigmoid")
  anchor, first = space.decisions[:2]
  assert isinstance(anchor, AnchorStep) and not anchor.zero_value
  assert isinstance(first, Categorical) and first.choices == ACTIVATIONS
  for node in range(1, 12):
    pick, act = space.decisions[2 * node:2 * node + 2]
    assert isinstance(pick, Pick) and pick.num_anchors == node
    assert isinstance(act, Categorical) and act.choices == ACTIVATIONS


def test_the_controller_takes_two_steps_per_node_as_enas_lm():
  # The pick step gives node i's anchor; the picked input is over
  # 0.1 + i - j; the pick logits get -(i - j)^2 / 6; no softmax bias; the
  # entropy bonus is the sampled form.
  space = rnn_cell_space(12)
  assert space.entropy_form == "sampled"
  for decision in space.decisions[2::2]:
    assert decision.creates_anchor and decision.distance_penalty == 6.0
    assert decision.input_scale_offset == 0.1
  for decision in space.decisions[1::2]:
    assert not decision.creates_anchor and not decision.learned_bias


def test_paper_final_cell_parses_and_decodes():
  space = rnn_cell_space()
  arc = space.parse(PAPER_FINAL_CELL)
  assert arc.to_string() == PAPER_FINAL_CELL
  cell = decode_rnn(arc)
  assert cell.num_nodes == 12
  assert cell.prev == (-1, 0, 1, 2, 2, 2, 5, 1, 6, 8, 8, 8)
  assert cell.activations == (0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1)
  assert cell.activation_names()[:3] == ("tanh", "tanh", "relu")
  assert cell.loose_ends == (3, 4, 7, 9, 10, 11)
  assert cell.to_tokens() == arc.tokens


def test_decode_accepts_tokens_and_text_alike():
  tokens = rnn_cell_space().parse(PAPER_FINAL_CELL).tokens
  assert decode_rnn(tokens) == decode_rnn(PAPER_FINAL_CELL)


def test_all_four_activations_are_allowed_on_every_node():
  space = rnn_cell_space(3)
  cell = decode_rnn(space.parse("3 0 2 1 1"))
  assert cell.activations == (3, 2, 1)
  assert cell.prev == (-1, 0, 1)
  assert cell.loose_ends == (2,)


def test_a_chain_has_one_loose_end_and_a_star_has_many():
  assert RnnCell(activations=(0,) * 4, prev=(-1, 0, 1, 2)).loose_ends == (3,)
  assert RnnCell(activations=(0,) * 4, prev=(-1, 0, 0, 0)).loose_ends == (1, 2, 3)


def test_a_cell_describes_itself_node_by_node():
  cell = decode_rnn("0 0 1 0 2 1 3")
  assert cell.describe() == ["node 0 = tanh(x_t, h_t-1)", "node 1 = relu(node 0)",
                             "node 2 = identity(node 0)", "node 3 = sigmoid(node 1)",
                             "h_t = mean(node 2, node 3)"]


@pytest.mark.parametrize("text, where", [
    ("0 1 0", "position 1"),          # node 1 can only read node 0
    ("0 0 4", "position 2"),          # no activation 4
    ("0 0 0 2 0", "position 3"),      # node 2 reads node 0 or 1
])
def test_invalid_cells_are_rejected_naming_the_position(text, where):
  with pytest.raises(ArchitectureError, match=where):
    decode_rnn(text)


def test_even_token_counts_are_rejected():
  with pytest.raises(ArchitectureError, match="2 \\* num_nodes - 1"):
    decode_rnn([0, 0])
