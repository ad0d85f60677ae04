"""Specification of the ENAS image search spaces (Pham et al. 2018 §2.3, §2.4)."""

import numpy as np
import pytest

from controller.search_space import (AnchorStep, ArchitectureError,
                                     Categorical, Pick, Skip)
from enas.image import spaces as spaces


# ------------------------------------------------------------------- macro
def test_macro_space_declares_an_op_then_skip_bits_per_layer():
  space = spaces.macro_space(num_layers=12, num_ops=6)
  assert space.num_tokens == 12 + 12 * 11 // 2
  for layer in range(12):
    op, skip = space.decisions[2 * layer], space.decisions[2 * layer + 1]
    assert isinstance(op, Categorical) and op.kind == "op"
    assert op.choices == spaces.MACRO_OPS
    assert isinstance(skip, Skip) and skip.num_anchors == layer
    assert skip.creates_anchor
  assert space.meta("pool_layers") == (3, 7)


def test_macro_reductions_follow_the_official_positions():
  assert spaces.macro_pool_layers(12) == (3, 7)
  assert spaces.macro_pool_layers(24) == (7, 15)
  assert spaces.macro_pool_layers(6) == (1, 3)


def test_official_macro_final_arc_parses_and_decodes():
  space = spaces.macro_space(num_layers=24)
  arc = space.parse(spaces.PAPER_MACRO_ARC)
  decoded = spaces.decode_macro(arc)
  assert decoded.num_layers == 24
  assert decoded.pool_layers == (7, 15)
  # "3 0": layer 1 is sep_conv5x5 with skip bit 0 (the stem) off.
  assert decoded.layers[1].op_name == "sep_conv5x5"
  assert decoded.layers[1].skips == ()
  # "0 1 0": layer 2 is conv3x3 and adds node 0, the stem.
  assert decoded.layers[2].op == 0 and decoded.layers[2].skips == (0,)
  assert decoded.layers[5].skips == (0, 1, 3)
  assert decoded.to_tokens() == arc.tokens
  assert arc.to_string() == " ".join(spaces.PAPER_MACRO_ARC.split())


def test_macro_decoding_accepts_text_tokens_and_architectures_alike():
  arc = spaces.macro_space(4).parse("1  2 1  5 0 1  4 1 1 0")
  assert (spaces.decode_macro(arc) == spaces.decode_macro(arc.tokens)
          == spaces.decode_macro(arc.to_string()))
  assert [layer.skips for layer in spaces.decode_macro(arc).layers] == [
      (), (0,), (1,), (0, 1)]


def test_macro_rejects_unknown_ops_and_bad_lengths():
  with pytest.raises(ArchitectureError, match="position 0"):
    spaces.macro_space(2).parse("6 0 1")
  with pytest.raises(ArchitectureError):
    spaces.macro_space(4, num_ops=4).parse("4 0 1 0 0 0 0 0 0 0")
  with pytest.raises(ArchitectureError, match="L \\(L \\+ 1\\) / 2"):
    spaces.decode_macro([0, 1, 0, 0])


# ------------------------------------------------------------------- micro
def test_micro_space_declares_the_official_sampling_sequence():
  space = spaces.micro_space(num_nodes=5)
  assert space.num_tokens == 40
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
  macro = spaces.macro_space(5)
  for layer, (op_at, skip_at) in enumerate(
      spaces.macro_token_positions(macro)):
    assert macro.decisions[2 * layer].name == f"layer_{layer}/op"
    assert op_at + 1 == skip_at


@pytest.mark.parametrize("space", [spaces.macro_space(6),
                                   spaces.micro_space(5)],
                         ids=["macro", "micro"])
def test_random_architectures_are_valid_and_varied(space):
  rng = np.random.default_rng(0)
  arcs = [spaces.random_architecture(space, rng) for _ in range(20)]
  for arc in arcs:
    assert space.parse(arc.to_string()) == arc
  assert len({arc.tokens for arc in arcs}) == 20
