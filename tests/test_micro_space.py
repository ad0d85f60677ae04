"""Specification of the ENAS micro search space (Pham et al. 2018 §2.4)."""

import pytest

from controller.search_space import AnchorStep, ArchitectureError, Pick
from enas.micro import space as spaces


def test_micro_space_declares_the_official_sampling_sequence():
  space = spaces.micro_space(num_nodes=5)
  assert space.num_tokens == 40
  assert space.entropy_form == "full"
  for offset, cell in ((0, "normal"), (27, "reduction")):
    steps = space.decisions[offset:offset + 27]
    assert [type(d) for d in steps[:2]] == [AnchorStep, AnchorStep]
    assert all(d.zero_value and d.scope == cell for d in steps[:2])
    for node in range(2, 7):
      i1, i2, o1, o2, anchor = steps[2 + 5 * (node - 2):][:5]
      assert isinstance(i1, Pick) and isinstance(i2, Pick)
      assert i1.num_anchors == i2.num_anchors == node
      assert i1.scope == i2.scope == cell
      for op in (o1, o2):
        assert op.kind == "op" and op.choices == spaces.MICRO_OPS
        assert op.logit_bias == (10, 10, 0, 0, 0)
        assert op.tanh_reduce == 2.5
        assert op.fixed_logit_bias == (
            (0.25, 0.25, -0.25, -0.25, -0.25) if cell == "normal" else None)
      assert isinstance(anchor, AnchorStep) and not anchor.zero_value


def test_official_micro_final_cells_parse_in_official_text_order():
  space = spaces.micro_space()
  arc = space.parse(spaces.PAPER_MICRO_ARC)
  # Sampling order per node: index_1, index_2, op_1, op_2.
  assert arc.tokens[:4] == (0, 0, 2, 0)
  assert arc.to_string() == spaces.PAPER_MICRO_ARC
  decoded = spaces.decode_micro(arc)
  assert decoded.normal.nodes[0] == spaces.MicroNode(0, 2, 0, 0)
  assert decoded.reduction.nodes[2] == spaces.MicroNode(1, 1, 3, 1)
  assert decoded.to_string() == spaces.PAPER_MICRO_ARC
  assert spaces.decode_micro(spaces.PAPER_MICRO_ARC) == decoded


def test_micro_loose_ends_include_unread_cell_inputs():
  decoded = spaces.decode_micro(spaces.PAPER_MICRO_ARC)
  assert decoded.normal.loose_ends == (2, 3, 4, 5, 6)
  assert decoded.reduction.loose_ends == (2, 4, 5, 6)
  cell = spaces.decode_micro("1 0 1 1 2 4 2 3 " * 2).normal
  assert cell.loose_ends == (0, 3)


def test_micro_rejects_an_input_index_that_is_not_yet_built():
  text = spaces.PAPER_MICRO_ARC.split()
  text[0] = "2"  # node 2 can read only inputs 0 and 1
  with pytest.raises(ArchitectureError, match="position 0 .*index_1"):
    spaces.micro_space().parse(" ".join(text))


def test_micro_reduction_cells_follow_the_official_positions():
  assert spaces.micro_reduction_cells(6) == (2, 5)
  assert spaces.micro_reduction_cells(15) == (5, 11)
  assert spaces.micro_reduction_cells(2) == (0, 1)


def test_token_positions_match_the_declared_decisions():
  micro = spaces.micro_space(3)
  names = [d.name for d, s in micro.token_slices() if s.stop > s.start]
  for cell, nodes in spaces.micro_token_positions(micro).items():
    for node, positions in zip(range(2, 5), nodes):
      assert [names[p] for p in positions] == [
          f"{cell}/node_{node}/{part}"
          for part in ("index_1", "op_1", "index_2", "op_2")]
