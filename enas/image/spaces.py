"""The ENAS image search spaces: macro (§2.3) and micro (§2.4) declarations.

Pham et al. 2018. Both spaces are plain `SearchSpace` declarations; the
project's generic LSTM controller samples them, so the decisions below fix how
the controller samples (what it attends over, which softmaxes it shares).

Macro space (§2.3), ``macro_space(num_layers=12, num_ops=6)``. Per layer i
(0-based), in sampling order = official text order:

* ``Categorical`` op id (kind ``op``): 0 conv3x3, 1 sep_conv3x3, 2 conv5x5,
  3 sep_conv5x5, 4 avg_pool3x3, 5 max_pool3x3;
* ``Skip`` with i bits (scope ``layers``), which creates layer i's anchor.

So L layers give ``L + L (L - 1) / 2`` tokens (78 for 12, 300 for 24).
Skip-bit semantics follow the official child (melodyguan/enas
``general_child.py``): layer i always reads the previous layer's output (the
stem for layer 0), and bit j adds *node j* where node 0 is the stem's output
and node k >= 1 is the output of layer k - 1. (The official controller's
anchor j is the LSTM state of layer j, so controller anchor and child node are
one apart; the tokens mean what the official child made of them.)

Micro space (§2.4), ``micro_space(num_nodes=5, num_ops=5)``. For the normal
cell (scope ``normal``) then the reduction cell (scope ``reduction``), as the
official micro controller, which samples both cells with one LSTM state:

* two ``AnchorStep(zero_value=True)`` for the cell inputs 0 and 1 (the two
  previous cells' outputs);
* per node n = 2 .. B + 1: ``Pick`` index_1, ``Pick`` index_2 (each over the
  n anchors so far), ``Categorical`` op_1, ``Categorical`` op_2 (ops 0
  sep_conv3x3, 1 sep_conv5x5, 2 avg_pool3x3, 3 max_pool3x3, 4 identity; logit
  bias initialised to ``(10, 10, 0, 0, 0)`` and the controller's tanh constant
  divided by 2.5, the official ``op_tanh_reduce``), then an
  ``AnchorStep(zero_value=False)`` that becomes node n's anchor.

The text format is the official ``fixed_arc``: per node
``index_1 op_1 index_2 op_2`` (the space's `string_order`), 4B numbers for the
normal cell then 4B for the reduction cell.

`decode_macro` / `decode_micro` turn an architecture into plain frozen
dataclasses that builders (supergraphs, final models, drawers) read.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence, Union

import gin
import numpy as np

from controller.search_space import (AnchorStep, Architecture,
                                     ArchitectureError, Categorical, Pick,
                                     SearchSpace, Skip)

MACRO_OPS = ("conv3x3", "sep_conv3x3", "conv5x5", "sep_conv5x5",
             "avg_pool3x3", "max_pool3x3")
"""Macro op names by id (official ``general_child.py`` branch order)."""

MICRO_OPS = ("sep_conv3x3", "sep_conv5x5", "avg_pool3x3", "max_pool3x3",
             "identity")
"""Micro op names by id (official ``micro_child.py`` order)."""

MICRO_OP_LOGIT_BIAS = (10.0, 10.0, 0.0, 0.0, 0.0)
"""Initial op-softmax bias of the official micro controller (favours convs)."""

MICRO_OP_TANH_REDUCE = 2.5
"""Official ``op_tanh_reduce`` (micro_search.sh): op logits get tanh_c / 2.5."""

MACRO_SPACE_NAME = "enas_macro"
MICRO_SPACE_NAME = "enas_micro"
MACRO_SCOPE = "layers"
CELLS = ("normal", "reduction")

PAPER_MICRO_NORMAL = "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1"
"""Normal cell of the official micro final run (``fixed_arc``)."""
PAPER_MICRO_REDUCTION = "1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1"
"""Reduction cell of the official micro final run (``fixed_arc``)."""
PAPER_MICRO_ARC = PAPER_MICRO_NORMAL + " " + PAPER_MICRO_REDUCTION

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


def micro_reduction_cells(num_layers: int) -> tuple[int, ...]:
  """Positions of the reduction cells among ``num_layers + 2`` cells.

  Official ``pool_layers = [pool_distance, 2 * pool_distance + 1]`` with
  ``pool_distance = num_layers // 3`` ([2, 5] for 6 layers, [5, 11] for 15).
  """
  distance = num_layers // 3
  return (distance, 2 * distance + 1)


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
                                 kind="op"))
    decisions.append(Skip(name=f"layer_{layer}/skip", num_anchors=layer,
                          kind="skip", scope=MACRO_SCOPE))
  return SearchSpace(
      name=MACRO_SPACE_NAME, decisions=tuple(decisions),
      metadata=(("num_layers", num_layers), ("num_ops", num_ops),
                ("ops", ops), ("pool_layers", macro_pool_layers(num_layers))))


@gin.configurable
def micro_space(num_nodes: int = 5, num_ops: int = 5) -> SearchSpace:
  """Declares the ENAS micro space (§2.4): a normal and a reduction cell.

  Args:
    num_nodes: B, nodes per cell (5 in the paper).
    num_ops: ops 0 .. num_ops - 1 of `MICRO_OPS`.

  Returns:
    A `SearchSpace` of ``8 B`` tokens whose text format is the official
    ``fixed_arc`` (normal cell's 4B numbers, then the reduction cell's).
  """
  if num_nodes < 1:
    raise ValueError(f"num_nodes must be positive, got {num_nodes}")
  if not 1 <= num_ops <= len(MICRO_OPS):
    raise ValueError(f"num_ops must be in [1, {len(MICRO_OPS)}], got {num_ops}")
  ops = MICRO_OPS[:num_ops]
  bias = MICRO_OP_LOGIT_BIAS[:num_ops]
  decisions = []
  string_order = []
  for cell in CELLS:
    decisions.append(AnchorStep(name=f"{cell}/input_0", scope=cell))
    decisions.append(AnchorStep(name=f"{cell}/input_1", scope=cell))
    for node in range(2, num_nodes + 2):
      start = 4 * (len(string_order) // 4)
      prefix = f"{cell}/node_{node}"
      decisions += [
          Pick(name=f"{prefix}/index_1", num_anchors=node, kind="pick",
               scope=cell),
          Pick(name=f"{prefix}/index_2", num_anchors=node, kind="pick",
               scope=cell),
          Categorical(name=f"{prefix}/op_1", choices=ops, kind="op",
                      logit_bias=bias, tanh_reduce=MICRO_OP_TANH_REDUCE),
          Categorical(name=f"{prefix}/op_2", choices=ops, kind="op",
                      logit_bias=bias, tanh_reduce=MICRO_OP_TANH_REDUCE),
          AnchorStep(name=f"{prefix}/anchor", scope=cell, zero_value=False),
      ]
      # Sampled: index_1 index_2 op_1 op_2; written: index_1 op_1 index_2 op_2.
      string_order += [start, start + 2, start + 1, start + 3]
  return SearchSpace(
      name=MICRO_SPACE_NAME, decisions=tuple(decisions),
      string_order=tuple(string_order),
      metadata=(("num_nodes", num_nodes), ("num_ops", num_ops), ("ops", ops)))


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


@dataclasses.dataclass(frozen=True)
class MicroNode:
  """One node of a micro cell: ``op_1(input index_1) + op_2(input index_2)``."""

  index_1: int
  op_1: int
  index_2: int
  op_2: int


@dataclasses.dataclass(frozen=True)
class MicroCell:
  """A decoded micro cell.

  Attributes:
    nodes: nodes 2 .. B + 1 (0 and 1 are the cell inputs).
  """

  nodes: tuple[MicroNode, ...]

  @property
  def num_nodes(self) -> int:
    return len(self.nodes)

  @property
  def loose_ends(self) -> tuple[int, ...]:
    """Ids in 0 .. B + 1 that no node reads; the cell output concatenates them.

    As in the official code (search and final), unread cell *inputs* 0 and 1
    count too, not only unread nodes.
    """
    used = {i for node in self.nodes for i in (node.index_1, node.index_2)}
    return tuple(i for i in range(self.num_nodes + 2) if i not in used)

  def describe(self) -> list[str]:
    """One readable line per node, then the output (ids 0, 1: cell inputs)."""
    lines = [f"node {i + 2} = {MICRO_OPS[n.op_1]}({n.index_1}) + "
             f"{MICRO_OPS[n.op_2]}({n.index_2})"
             for i, n in enumerate(self.nodes)]
    ends = ", ".join(str(i) for i in self.loose_ends)
    return lines + [f"output = conv1x1(concat({ends}))"]

  def to_string(self) -> str:
    """Official order: ``index_1 op_1 index_2 op_2`` per node."""
    return " ".join(f"{n.index_1} {n.op_1} {n.index_2} {n.op_2}"
                    for n in self.nodes)


@dataclasses.dataclass(frozen=True)
class MicroArc:
  """A decoded micro architecture: the normal and the reduction cell."""

  normal: MicroCell
  reduction: MicroCell

  def to_string(self) -> str:
    return self.normal.to_string() + " " + self.reduction.to_string()

  def describe(self) -> list[str]:
    """Readable lines: the normal cell, then the reduction cell."""
    return (["normal cell:"] + ["  " + line for line in self.normal.describe()]
            + ["reduction cell:"]
            + ["  " + line for line in self.reduction.describe()])


ArcLike = Union[Architecture, Sequence[int], str]


def _macro_layers_for(num_tokens: int) -> int:
  layers = int(round((math.sqrt(8 * num_tokens + 1) - 1) / 2))
  if layers * (layers + 1) // 2 != num_tokens:
    raise ArchitectureError(
        f"{MACRO_SPACE_NAME}: {num_tokens} integers is not L (L + 1) / 2")
  return layers


def _as_architecture(arc: ArcLike, name: str, make_space) -> Architecture:
  """An `Architecture` of the named space from any accepted form."""
  if isinstance(arc, Architecture):
    if arc.space.name != name:
      raise ArchitectureError(f"not an {name} architecture: {arc.space.name}")
    return arc
  if isinstance(arc, str):
    count = len(arc.replace(",", " ").split())
    return make_space(count).parse(arc)
  tokens = tuple(int(t) for t in arc)
  return make_space(len(tokens)).from_tokens(tokens)


def decode_macro(arc: ArcLike) -> MacroArc:
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
  arch = _as_architecture(
      arc, MACRO_SPACE_NAME, lambda n: macro_space(_macro_layers_for(n)))
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


def _micro_nodes_for(num_tokens: int) -> int:
  if num_tokens % 8 or not num_tokens:
    raise ArchitectureError(
        f"{MICRO_SPACE_NAME}: expected 8 * num_nodes integers, got {num_tokens}")
  return num_tokens // 8


def decode_micro(arc: ArcLike) -> MicroArc:
  """Reads a micro architecture as its two cells.

  Args:
    arc: an `Architecture` of a `micro_space`, its tokens in SAMPLING order
      (``Architecture.tokens``: index_1 index_2 op_1 op_2 per node), or the
      official text (index_1 op_1 index_2 op_2 per node). Without an
      `Architecture` the space is ``micro_space(B, 5)`` with B from the length.

  Returns:
    The `MicroArc`.

  Raises:
    ArchitectureError: it is not a valid micro architecture.
  """
  arch = _as_architecture(
      arc, MICRO_SPACE_NAME, lambda n: micro_space(_micro_nodes_for(n)))
  num_nodes = int(arch.space.meta("num_nodes"))
  cells = []
  for c in range(len(CELLS)):
    nodes = []
    for n in range(num_nodes):
      i1, i2, o1, o2 = arch.tokens[4 * (c * num_nodes + n):][:4]
      nodes.append(MicroNode(index_1=i1, op_1=o1, index_2=i2, op_2=o2))
    cells.append(MicroCell(nodes=tuple(nodes)))
  return MicroArc(normal=cells[0], reduction=cells[1])


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


def macro_token_positions(space: SearchSpace) -> list[tuple[int, int]]:
  """Per layer: (position of the op token, position of its first skip bit)."""
  out, slices = [], dict((d.name, s) for d, s in space.token_slices())
  for i in range(int(space.meta("num_layers"))):
    out.append((slices[f"layer_{i}/op"].start, slices[f"layer_{i}/skip"].start))
  return out


def micro_token_positions(space: SearchSpace
                          ) -> dict[str, list[tuple[int, int, int, int]]]:
  """Per cell type and node: positions of (index_1, op_1, index_2, op_2)."""
  slices = dict((d.name, s) for d, s in space.token_slices())
  out = {}
  for cell in CELLS:
    out[cell] = [
        tuple(slices[f"{cell}/node_{n}/{part}"].start
              for part in ("index_1", "op_1", "index_2", "op_2"))
        for n in range(2, int(space.meta("num_nodes")) + 2)]
  return out
