"""Specification of what the ENAS image spaces share (§2.3, §2.4)."""

import numpy as np
import pytest

from controller.search_space import ArchitectureError
from enas.image import spaces
from enas.macro import space as macro_space
from enas.micro import space as micro_space


@pytest.mark.parametrize("space", [macro_space.macro_space(6),
                                   micro_space.micro_space(5)],
                         ids=["macro", "micro"])
def test_random_architectures_are_valid_and_varied(space):
  rng = np.random.default_rng(0)
  arcs = [spaces.random_architecture(space, rng) for _ in range(20)]
  for arc in arcs:
    assert space.parse(arc.to_string()) == arc
  assert len({arc.tokens for arc in arcs}) == 20


def test_an_architecture_of_another_space_is_rejected():
  arc = micro_space.micro_space(1).parse(micro_space.PAPER_MICRO_ARC[:15])
  with pytest.raises(ArchitectureError, match="not an enas_macro"):
    spaces.as_architecture(arc, macro_space.MACRO_SPACE_NAME,
                           macro_space.macro_space)


def test_the_names_that_moved_to_the_families_still_resolve_here():
  assert spaces.decode_micro is micro_space.decode_micro
  assert spaces.macro_space is macro_space.macro_space
  assert spaces.MICRO_SPACE_NAME == "enas_micro"
  with pytest.raises(AttributeError):
    spaces.nope  # noqa: B018
