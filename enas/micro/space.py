"""The ENAS micro search space (Pham et al. 2018, §2.4) and its decoder.

``micro_space(num_nodes=5, num_ops=5)`` is a plain `SearchSpace`; the
project's generic LSTM controller samples it. For the normal cell (scope
``normal``) then the reduction cell (scope ``reduction``), as the official
micro controller, which samples both cells with one LSTM state:

* two ``AnchorStep(zero_value=True)`` for the cell inputs 0 and 1 (the two
  previous cells' outputs);
* per node n = 2 .. B + 1: ``Pick`` index_1, ``Pick`` index_2 (each over the
  n anchors so far), ``Categorical`` op_1, ``Categorical`` op_2 (the ids of
  the op table `enas.micro.ops`: 0 sep_conv3x3, 1 sep_conv5x5, 2 avg_pool3x3,
  3 max_pool3x3, 4 identity; logit bias initialised to ``(10, 10, 0, 0, 0)``
  and the controller's tanh constant divided by 2.5, the official
  ``op_tanh_reduce``), then an ``AnchorStep(zero_value=False)`` that becomes
  node n's anchor. The normal cell's op logits also get the official fixed,
  unlearned ``b_soft_no_learn = (0.25, 0.25, -0.25, -0.25, -0.25)`` after
  the tanh shaping (melodyguan/enas 4bcfd73 ``micro_controller.py``:
  ``use_bias=True`` for the normal cell's sampler only). The entropy bonus is
  the full entropy of every softmax, as that controller adds.

The text format is the official ``fixed_arc``: per node
``index_1 op_1 index_2 op_2`` (the space's `string_order`), 4B numbers for the
normal cell then 4B for the reduction cell.

`decode_micro` turns an architecture into plain frozen dataclasses that the
supergraph, the final model and drawers read.
"""

from __future__ import annotations

import dataclasses

import gin

from controller.search_space import (AnchorStep, Architecture,
                                     ArchitectureError, Categorical, Pick,
                                     SearchSpace)
from enas.image import spaces as image_spaces
from enas.micro import ops as micro_ops

MICRO_OPS = micro_ops.NAMES
"""Micro op names by id (official ``micro_child.py`` order)."""

MICRO_OP_LOGIT_BIAS = (10.0, 10.0, 0.0, 0.0, 0.0)
"""Initial op-softmax bias of the official micro controller (favours convs)."""

MICRO_OP_FIXED_BIAS = (0.25, 0.25, -0.25, -0.25, -0.25)
"""Official ``b_soft_no_learn``: added to the normal cell's shaped op logits."""

MICRO_OP_TANH_REDUCE = 2.5
"""Official ``op_tanh_reduce`` (micro_search.sh): op logits get tanh_c / 2.5."""

MICRO_SPACE_NAME = "enas_micro"
CELLS = ("normal", "reduction")

PAPER_MICRO_NORMAL = "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1"
"""Normal cell of the official micro final run (``fixed_arc``)."""
PAPER_MICRO_REDUCTION = "1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1"
"""Reduction cell of the official micro final run (``fixed_arc``)."""
PAPER_MICRO_ARC = PAPER_MICRO_NORMAL + " " + PAPER_MICRO_REDUCTION


def micro_reduction_cells(num_layers: int) -> tuple[int, ...]:
  """Positions of the reduction cells among ``num_layers + 2`` cells.

  Official ``pool_layers = [pool_distance, 2 * pool_distance + 1]`` with
  ``pool_distance = num_layers // 3`` ([2, 5] for 6 layers, [5, 11] for 15).
  """
  distance = num_layers // 3
  return (distance, 2 * distance + 1)


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
    fixed = MICRO_OP_FIXED_BIAS[:num_ops] if cell == "normal" else None
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
                      logit_bias=bias, tanh_reduce=MICRO_OP_TANH_REDUCE,
                      fixed_logit_bias=fixed),
          Categorical(name=f"{prefix}/op_2", choices=ops, kind="op",
                      logit_bias=bias, tanh_reduce=MICRO_OP_TANH_REDUCE,
                      fixed_logit_bias=fixed),
          AnchorStep(name=f"{prefix}/anchor", scope=cell, zero_value=False),
      ]
      # Sampled: index_1 index_2 op_1 op_2; written: index_1 op_1 index_2 op_2.
      string_order += [start, start + 2, start + 1, start + 3]
  return SearchSpace(
      name=MICRO_SPACE_NAME, decisions=tuple(decisions),
      string_order=tuple(string_order),
      metadata=(("num_nodes", num_nodes), ("num_ops", num_ops), ("ops", ops)))


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


# ----------------------------------------------------------------- decoding
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


def _micro_nodes_for(num_tokens: int) -> int:
  if num_tokens % 8 or not num_tokens:
    raise ArchitectureError(
        f"{MICRO_SPACE_NAME}: expected 8 * num_nodes integers, got {num_tokens}")
  return num_tokens // 8


def as_micro_architecture(arc: image_spaces.ArcLike) -> Architecture:
  """`arc` as an `Architecture` of a `micro_space`.

  Without an `Architecture` the space is ``micro_space(B)`` (gin's
  ``num_ops``, 5 by default) with B from the number of integers (8 B).

  Raises:
    ArchitectureError: it is not a valid micro architecture.
  """
  return image_spaces.as_architecture(
      arc, MICRO_SPACE_NAME, lambda n: micro_space(_micro_nodes_for(n)))


def decode_micro(arc: image_spaces.ArcLike) -> MicroArc:
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
  arch = as_micro_architecture(arc)
  num_nodes = int(arch.space.meta("num_nodes"))
  cells = []
  for c in range(len(CELLS)):
    nodes = []
    for n in range(num_nodes):
      i1, i2, o1, o2 = arch.tokens[4 * (c * num_nodes + n):][:4]
      nodes.append(MicroNode(index_1=i1, op_1=o1, index_2=i2, op_2=o2))
    cells.append(MicroCell(nodes=tuple(nodes)))
  return MicroArc(normal=cells[0], reduction=cells[1])
