"""What the ENAS image search spaces share (Pham et al. 2018, §2.3, §2.4).

Each family declares its own space in its home: `enas.macro.space` (§2.3)
and `enas.micro.space` (§2.4); `enas.image.families` finds a family by name.
Here is what they have in common: the forms an architecture may be given in
(`ArcLike`, `as_architecture`) and random valid architectures of any space
(`random_architecture`).

The names that lived here before the families had homes (``macro_space``,
``decode_micro``, ``MICRO_SPACE_NAME``, ...) still resolve, lazily, to their
homes (`_MOVED`), for callers not yet on `enas.image.families`.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Sequence, Union

import numpy as np

from controller.search_space import (Architecture, ArchitectureError,
                                     Categorical, Pick, SearchSpace, Skip)

ArcLike = Union[Architecture, Sequence[int], str]
"""An `Architecture`, its tokens (sampling order) or its text."""


def as_architecture(arc: ArcLike, name: str,
                    make_space: Callable[[int], SearchSpace]) -> Architecture:
  """An `Architecture` of the space named `name` from any accepted form.

  Args:
    arc: an `Architecture` (returned as is), its tokens or its text.
    name: the space's `SearchSpace.name`.
    make_space: ``make_space(number of integers) -> SearchSpace``, the space
      the tokens or text belong to (its size follows from their length).

  Raises:
    ArchitectureError: `arc` is an architecture of another space, or not a
      valid one of this space.
  """
  if isinstance(arc, Architecture):
    if arc.space.name != name:
      raise ArchitectureError(f"not an {name} architecture: {arc.space.name}")
    return arc
  if isinstance(arc, str):
    count = len(arc.replace(",", " ").split())
    return make_space(count).parse(arc)
  tokens = tuple(int(t) for t in arc)
  return make_space(len(tokens)).from_tokens(tokens)


def random_architecture(space: SearchSpace, rng: np.random.Generator,
                        skip_prob: float = 0.5) -> Architecture:
  """A uniformly random valid architecture of any space (tests, benchmarks).

  Categorical and Pick tokens are uniform; skip bits are Bernoulli(skip_prob).
  """
  tokens = []
  for decision in space.decisions:
    if isinstance(decision, Categorical):
      tokens.append(int(rng.integers(len(decision.choices))))
    elif isinstance(decision, Pick):
      tokens.append(int(rng.integers(decision.num_anchors)))
    elif isinstance(decision, Skip):
      tokens += [int(b) for b in rng.random(decision.num_anchors) < skip_prob]
  return space.from_tokens(tokens)


_MOVED = {
    **dict.fromkeys(
        ("macro_space", "decode_macro", "MacroArc", "MacroLayer", "MACRO_OPS",
         "MACRO_SPACE_NAME", "MACRO_SCOPE", "PAPER_MACRO_ARC",
         "macro_pool_layers", "macro_token_positions"), "enas.macro.space"),
    **dict.fromkeys(
        ("micro_space", "decode_micro", "MicroArc", "MicroCell", "MicroNode",
         "MICRO_OPS", "MICRO_SPACE_NAME", "MICRO_OP_LOGIT_BIAS",
         "MICRO_OP_TANH_REDUCE", "CELLS", "PAPER_MICRO_ARC",
         "PAPER_MICRO_NORMAL", "PAPER_MICRO_REDUCTION",
         "micro_reduction_cells", "micro_token_positions"), "enas.micro.space"),
}
"""Old name here -> the family module that now holds it."""


def __getattr__(name: str) -> Any:
  if name in _MOVED:
    return getattr(importlib.import_module(_MOVED[name]), name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
