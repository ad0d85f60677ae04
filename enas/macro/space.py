"""The ENAS macro search space (Pham et al. 2018, §2.3) and its decoder.

``macro_space(num_layers=12, num_ops=6)`` is a plain `SearchSpace`; the
project's generic LSTM controller samples it. Per layer i (0-based), in
sampling order = official text order:

* ``Categorical`` op id (kind ``op``), the ids of the op table
  `enas.macro.ops`: 0 conv3x3, 1 sep_conv3x3, 2 conv5x5, 3 sep_conv5x5,
  4 avg_pool3x3, 5 max_pool3x3;
* ``Skip`` with i bits (scope ``layers``), which creates layer i's anchor.

Controller-facing declaration, as the official macro controller
(melodyguan/enas 4bcfd73 ``general_controller.py``): the op softmax has no
bias (``logits = h w_soft``); skip logits are paired, ``[-q, q]`` shaped then
softmaxed, so P(skip) = sigmoid(2 c tanh q); the entropy bonus is the sampled
form, ``-log p * p`` of each sampled op and skip bit.

So L layers give ``L + L (L - 1) / 2`` tokens (78 for 12, 300 for 24).
Skip-bit semantics follow the official child (melodyguan/enas
``general_child.py``): layer i always reads the previous layer's output (the
stem for layer 0), and bit j adds *node j* where node 0 is the stem's output
and node k >= 1 is the output of layer k - 1. (The official controller's
anchor j is the LSTM state of layer j, so controller anchor and child node are
one apart; the tokens mean what the official child made of them.)

`decode_macro` turns an architecture into plain frozen dataclasses that the
supergraph, the final model and drawers read.
"""

from __future__ import annotations

import dataclasses
import math

import gin

from controller.search_space import (Architecture, ArchitectureError,
                                     Categorical, SearchSpace, Skip)
from enas.image import spaces as image_spaces
from enas.macro import ops as macro_ops

MACRO_OPS = macro_ops.NAMES
"""Macro op names by id (official ``general_child.py`` branch order)."""

MACRO_SPACE_NAME = "enas_macro"
MACRO_SCOPE = "layers"

PAPER_MACRO_ARC = """
0
3 0
0 1 0
2 0 0 1
2 0 0 0 0
3 1 1 0 1 0
2 0 0 0 0 0 1
2 0 1 1 0 1 1 1
1 0 1 1 1 0 1 0 1
0 0 0 0 0 0 0 0 0 0
2 0 0 0 0 0 1 0 0 0 0
0 1 0 0 1 1 0 0 0 0 1 1
2 0 1 0 0 0 0 0 1 0 1 1 0
1 0 0 1 0 0 0 1 1 1 0 1 0 1
0 1 1 0 1 0 1 0 0 0 0 0 1 0 0
2 0 0 1 0 0 0 0 0 0 0 1 0 1 0 1
2 0 1 0 0 0 1 0 0 1 1 1 1 0 0 1 0
2 0 0 0 0 1 0 1 0 1 0 0 1 0 1 0 0 1
3 0 1 1 0 1 0 0 0 0 0 1 0 1 0 1 0 0 0
3 0 1 1 0 0 0 0 0 0 0 0 0 1 1 0 0 0 0 1
0 1 0 0 1 0 1 1 0 0 0 1 0 0 0 0 0 1 1 0 0
3 0 1 0 1 1 0 0 1 0 1 1 0 1 1 0 1 0 0 1 0 0
0 1 0 1 0 1 0 0 0 0 0 0 0 0 1 0 1 0 0 1 0 0 0
0 1 1 0 0 0 1 1 1 0 1 0 0 0 1 0 1 0 0 1 1 0 0 0
"""
"""The 24-layer macro architecture of the official macro final run."""


def macro_pool_layers(num_layers: int) -> tuple[int, ...]:
  """Layers after which the macro child reduces (official ``pool_layers``).

  ``pool_distance = num_layers // 3``; reductions follow layers
  ``pool_distance - 1`` and ``2 * pool_distance - 1`` ([3, 7] for 12 layers,
  [7, 15] for 24). Layers below 3 give no valid position and no reduction.
  """
  distance = num_layers // 3
  if distance < 1:
    return ()
  return (distance - 1, 2 * distance - 1)


@gin.configurable
def macro_space(num_layers: int = 12, num_ops: int = 6) -> SearchSpace:
  """Declares the ENAS macro space (§2.3): per layer an op and skip bits.

  Args:
    num_layers: L (12 in the official search, 24 in the final run).
    num_ops: ops 0 .. num_ops - 1 of `MACRO_OPS` (6 in the search, 4 in the
      official final run, which has no pooling ops).

  Returns:
    A `SearchSpace` of ``L + L (L - 1) / 2`` tokens.
  """
  if num_layers < 1:
    raise ValueError(f"num_layers must be positive, got {num_layers}")
  if not 1 <= num_ops <= len(MACRO_OPS):
    raise ValueError(f"num_ops must be in [1, {len(MACRO_OPS)}], got {num_ops}")
  ops = MACRO_OPS[:num_ops]
  decisions = []
  for layer in range(num_layers):
    decisions.append(Categorical(name=f"layer_{layer}/op", choices=ops,
                                 kind="op", learned_bias=False))
    decisions.append(Skip(name=f"layer_{layer}/skip", num_anchors=layer,
                          kind="skip", scope=MACRO_SCOPE, paired_logits=True))
  return SearchSpace(
      name=MACRO_SPACE_NAME, decisions=tuple(decisions),
      entropy_form="sampled",
      metadata=(("num_layers", num_layers), ("num_ops", num_ops),
                ("ops", ops), ("pool_layers", macro_pool_layers(num_layers))))


def macro_token_positions(space: SearchSpace) -> list[tuple[int, int]]:
  """Per layer: (position of the op token, position of its first skip bit)."""
  out, slices = [], dict((d.name, s) for d, s in space.token_slices())
  for i in range(int(space.meta("num_layers"))):
    out.append((slices[f"layer_{i}/op"].start, slices[f"layer_{i}/skip"].start))
  return out


# ----------------------------------------------------------------- decoding
@dataclasses.dataclass(frozen=True)
class MacroLayer:
  """One macro layer.

  Attributes:
    op: op id (see `MACRO_OPS`); its input is always node ``index``, the
      previous layer (or the stem for layer 0).
    skips: node ids added to the op's output (node 0 = stem output, node k =
      output of layer k - 1); all ``< index``.
    index: this layer's position i.
  """

  op: int
  skips: tuple[int, ...]
  index: int

  @property
  def op_name(self) -> str:
    return MACRO_OPS[self.op]


@dataclasses.dataclass(frozen=True)
class MacroArc:
  """A decoded macro architecture.

  Attributes:
    layers: the L layers.
    pool_layers: layers after which every earlier output is reduced.
  """

  layers: tuple[MacroLayer, ...]
  pool_layers: tuple[int, ...]

  @property
  def num_layers(self) -> int:
    return len(self.layers)

  def describe(self) -> list[str]:
    """One readable line per layer (input 0 is the stem's output)."""
    lines = []
    for layer in self.layers:
      skips = ", ".join(str(j) for j in layer.skips) or "none"
      pool = "  then reduce" if layer.index in self.pool_layers else ""
      lines.append(f"layer {layer.index + 1} = {layer.op_name}({layer.index}) "
                   f"skips from: {skips}{pool}")
    return lines

  def to_tokens(self) -> tuple[int, ...]:
    """Tokens in sampling (= official text) order."""
    tokens = []
    for layer in self.layers:
      tokens.append(layer.op)
      tokens += [int(j in layer.skips) for j in range(layer.index)]
    return tuple(tokens)


def _macro_layers_for(num_tokens: int) -> int:
  layers = int(round((math.sqrt(8 * num_tokens + 1) - 1) / 2))
  if layers < 1 or layers * (layers + 1) // 2 != num_tokens:
    raise ArchitectureError(
        f"{MACRO_SPACE_NAME}: {num_tokens} integers is not L (L + 1) / 2")
  return layers


def as_macro_architecture(arc: image_spaces.ArcLike) -> Architecture:
  """`arc` as an `Architecture` of a `macro_space`.

  Without an `Architecture` the space is ``macro_space(L)`` (gin's
  ``num_ops``, 6 by default) with L from the number of integers.

  Raises:
    ArchitectureError: it is not a valid macro architecture.
  """
  return image_spaces.as_architecture(
      arc, MACRO_SPACE_NAME, lambda n: macro_space(_macro_layers_for(n)))


def decode_macro(arc: image_spaces.ArcLike) -> MacroArc:
  """Reads a macro architecture as layers.

  Args:
    arc: an `Architecture` of a `macro_space`, its tokens, or the official
      text (one line per layer is fine). Without an `Architecture` the space
      is ``macro_space(L, 6)`` with L from the length.

  Returns:
    The `MacroArc`.

  Raises:
    ArchitectureError: it is not a valid macro architecture.
  """
  arch = as_macro_architecture(arc)
  num_layers = int(arch.space.meta("num_layers"))
  layers, position = [], 0
  for i in range(num_layers):
    op = arch.tokens[position]
    bits = arch.tokens[position + 1:position + 1 + i]
    layers.append(MacroLayer(op=op, index=i,
                             skips=tuple(j for j, b in enumerate(bits) if b)))
    position += 1 + i
  return MacroArc(layers=tuple(layers),
                  pool_layers=tuple(arch.space.meta("pool_layers")))
