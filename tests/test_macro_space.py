"""Specification of the ENAS macro search space (Pham et al. 2018 §2.3)."""

import pytest

from controller.search_space import ArchitectureError, Categorical, Skip
from enas.macro import space as spaces


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


def test_macro_controller_declaration_is_the_official_one():
  # general_controller.py: no op-softmax bias, skip logits [-q, q] through
  # the tanh then a softmax, the sampled entropy form.
  space = spaces.macro_space(num_layers=12)
  assert space.entropy_form == "sampled"
  for decision in space.decisions:
    if isinstance(decision, Skip):
      assert decision.paired_logits
    else:
      assert not decision.learned_bias


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


def test_token_positions_match_the_declared_decisions():
  macro = spaces.macro_space(5)
  for layer, (op_at, skip_at) in enumerate(
      spaces.macro_token_positions(macro)):
    assert macro.decisions[2 * layer].name == f"layer_{layer}/op"
    assert op_at + 1 == skip_at
