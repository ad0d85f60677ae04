"""The ENAS recurrent cell search space (Pham et al. 2018, §2.2).

A recurrent cell is a DAG of `num_nodes` nodes (12 in the paper's search).
Node 0 reads x_t and h_{t-1}; every later node i reads the output of ONE
earlier node j < i; every node applies one of four activations. The cell's
output h_t is the average of the "loose ends", the nodes no other node reads.

Declared decisions, in sampling order (which is also the official text order
of the melodyguan/enas PTB scripts, ``act_0 prev_1 act_1 prev_2 act_2 ...``):

* node 0: an ``AnchorStep`` (anchor 0: the LSTM output of a step fed the
  start embedding), then ``Categorical`` activation;
* node i >= 1: ``Pick`` of the previous node among the i anchors, which then
  creates anchor i from the same LSTM step, then ``Categorical`` activation.

So 12 nodes give 23 tokens, from two controller steps per node, as the
official PTB controllers (google-research enas_lm ``src/controller.py``,
which melodyguan/enas's README points to as the working PTB code, and
melodyguan/enas 4bcfd73 ``src/ptb/ptb_enas_controller.py`` agree on these):
the pick step, whose output is also node i's anchor, then the activation
step; the pick logits are shaped (temperature, tanh) and then get
``-(i - j)^2 / 6``; the picked node j's anchor, the next input, is divided by
``0.1 + i - j``; the activation softmax has no bias; the entropy bonus is
the sampled form ``-log p * p``. Where the two differ: enas_lm has no
decision for node 0 (its anchor 0 is zeros, key and value) and ties the
activation softmax to the activation embedding (``logits = h w_emb^T``);
melodyguan's node 0 takes a step for anchor 0 and a step for its activation,
as here, with separate softmax weights, as here. Activation ids follow the official PTB code:
0 tanh, 1 ReLU, 2 identity, 3 sigmoid. (google-research enas_lm numbers them
0 tanh, 1 ReLU, 2 sigmoid, 3 identity, fixes node 0 to tanh and writes only
``prev_i act_i`` pairs; the official melodyguan controller sampled only ids 0
and 1. Here all four are searched, for every node.)
"""

from __future__ import annotations

import dataclasses
from typing import Sequence, Union

from controller.search_space import (AnchorStep, Architecture,
                                     ArchitectureError, Categorical, Pick,
                                     SearchSpace)

ACTIVATIONS = ("tanh", "relu", "identity", "sigmoid")
"""Activation names by id (official ENAS PTB order)."""

PICK_INPUT_SCALE_OFFSET = 0.1
"""The picked node j's anchor is divided by 0.1 + i - j (both official PTB
controllers)."""

SPACE_NAME = "enas_rnn"
SCOPE = "rnn_nodes"
PAPER_FINAL_CELL = "0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1"
"""The PTB cell ENAS found (``fixed_arc`` of melodyguan/enas ptb_final.sh)."""


def rnn_cell_space(num_nodes: int = 12) -> SearchSpace:
  """Declares the ENAS recurrent cell space (§2.2) with `num_nodes` nodes.

  Args:
    num_nodes: nodes of the cell DAG (12 in the paper's PTB search).

  Returns:
    A `SearchSpace` of ``2 * num_nodes - 1`` tokens.
  """
  if num_nodes < 1:
    raise ValueError(f"num_nodes must be positive, got {num_nodes}")
  def activation(node):
    return Categorical(name=f"node_{node}/activation", choices=ACTIVATIONS,
                       kind="rnn_activation", learned_bias=False)

  decisions = [AnchorStep(name="node_0/anchor", scope=SCOPE, zero_value=False),
               activation(0)]
  for node in range(1, num_nodes):
    decisions.append(Pick(name=f"node_{node}/prev", num_anchors=node,
                          kind="rnn_prev", scope=SCOPE, distance_penalty=6.0,
                          creates_anchor=True,
                          input_scale_offset=PICK_INPUT_SCALE_OFFSET))
    decisions.append(activation(node))
  return SearchSpace(name=SPACE_NAME, decisions=tuple(decisions),
                     entropy_form="sampled",
                     metadata=(("num_nodes", num_nodes),
                               ("activations", ACTIVATIONS)))


@dataclasses.dataclass(frozen=True)
class RnnCell:
  """A decoded recurrent cell: what each node reads and computes.

  Attributes:
    activations: activation id of each node (see `ACTIVATIONS`).
    prev: the node each node reads; ``prev[0] == -1`` stands for node 0's
      inputs x_t and h_{t-1}.
  """

  activations: tuple[int, ...]
  prev: tuple[int, ...]

  @property
  def num_nodes(self) -> int:
    return len(self.activations)

  @property
  def loose_ends(self) -> tuple[int, ...]:
    """Nodes that no other node reads; h_t is their average (§2.2)."""
    used = set(self.prev[1:])
    return tuple(i for i in range(self.num_nodes) if i not in used)

  def activation_names(self) -> tuple[str, ...]:
    return tuple(ACTIVATIONS[a] for a in self.activations)

  def describe(self) -> list[str]:
    """One readable line per node, then the output."""
    names = self.activation_names()
    lines = [f"node 0 = {names[0]}(x_t, h_t-1)"]
    lines += [f"node {i} = {names[i]}(node {self.prev[i]})"
              for i in range(1, self.num_nodes)]
    ends = ", ".join(f"node {i}" for i in self.loose_ends)
    return lines + [f"h_t = mean({ends})"]

  def to_tokens(self) -> tuple[int, ...]:
    """The tokens in sampling (= official text) order."""
    tokens = [self.activations[0]]
    for node in range(1, self.num_nodes):
      tokens += [self.prev[node], self.activations[node]]
    return tuple(tokens)


def decode_rnn(arc: Union[Architecture, Sequence[int], str]) -> RnnCell:
  """Reads an `Architecture`, a token sequence or an arc string as a cell.

  Args:
    arc: an architecture of an `rnn_cell_space`, or its ``2N - 1`` tokens /
      space-separated text in official order.

  Returns:
    The `RnnCell`.

  Raises:
    ArchitectureError: the tokens do not form a valid cell.
  """
  if isinstance(arc, Architecture):
    if arc.space.name != SPACE_NAME:
      raise ArchitectureError(f"not an {SPACE_NAME} architecture: "
                              f"{arc.space.name}")
    tokens = arc.tokens
  else:
    if isinstance(arc, str):
      arc = arc.replace(",", " ").split()
    tokens = tuple(int(t) for t in arc)
    if len(tokens) % 2 == 0:
      raise ArchitectureError(
          f"{SPACE_NAME}: expected 2 * num_nodes - 1 integers, got {len(tokens)}")
    tokens = rnn_cell_space((len(tokens) + 1) // 2).validate(tokens)
  activations = (tokens[0],) + tuple(tokens[2::2])
  prev = (-1,) + tuple(tokens[1::2])
  return RnnCell(activations=activations, prev=prev)
