"""The recurrent-cell search space of Zoph & Le 2017, §3.4 (Figure 5).

A cell is a full binary tree whose `base` leaves each read x_t and h_{t-1} and
whose internal nodes combine their two children. The controller labels every
node with a combination method and an activation, then says how c_{t-1} is
injected and where c_t is read (the "memory cell" of §3.4).

Node numbering (``2 * base - 1`` nodes): leaves first, ``0 .. base-1``, then
the internal nodes level by level from the leaves up, left to right; the root
is the last node, ``2 * base - 2``. Internal node ``n`` has the children
``2 * (n - base)`` and ``2 * (n - base) + 1``. For base 8::

  leaves 0..7;  8 = (0, 1)  9 = (2, 3)  10 = (4, 5)  11 = (6, 7);
  12 = (8, 9)  13 = (10, 11);  root 14 = (12, 13).

For base 2 this is the paper's Figure 5: tree indices 0 and 1 are the leaves,
2 the root.

Semantics (the Figure 5 walk-through, and TF1's ``NASCell`` for the published
cell):

* leaf i:      a_i = act_i(combine_i(W_i x_t, U_i h_{t-1} + b_i));
* internal n:  a_n = act_n(combine_n(a_left, a_right)), no parameters;
* inject:      the inject node's output is replaced, for its parent (and for
  h_t if it is the root), by
  a_k_new = inject_act(inject_combine(a_k, c_{t-1}));
* c_t is the cell-output node's value BEFORE its own activation, i.e.
  combine_m(...) of its (possibly injected) inputs; it never includes that
  node's own injection;
* h_t is the root's output.

Decision order, which is also the text format (one integer per token,
space-separated): for node 0, 1, ..., 2*base-2 its combination then its
activation; then the cell inject's combination and activation; then the
"cell indices": first the node whose pre-activation becomes c_t, second the
node that receives c_{t-1} (the paper's first and second "Cell Index"
elements). ``4 * base + 2`` tokens in all (34 for base 8). Token values index
`COMBINATIONS` and `ACTIVATIONS`; the two indices are node numbers.

Example (Figure 5, base 2): ``0 1 1 3 1 2 0 3 1 0`` reads a_0 = tanh(W1 x +
W2 h), a_1 = relu(W3 x * W4 h), a_0_new = relu(a_0 + c_{t-1}),
h_t = a_2 = sigmoid(a_0_new * a_1), c_t = W3 x * W4 h.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from controller.search_space import Architecture, Categorical, SearchSpace

COMBINATIONS = ("add", "elem_mult")
"""Ways a node combines its two inputs (§3.4)."""

ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu")
"""Activations a node applies after combining (§3.4)."""

BASES = (2, 4, 8)
"""Tree bases the space is declared for; the paper's cells use base 8."""


def num_nodes(base: int) -> int:
  """Number of tree nodes: ``base`` leaves and ``base - 1`` internal nodes."""
  return 2 * base - 1


def root(base: int) -> int:
  """The root's node number (the last node)."""
  return 2 * base - 2


def children(base: int, node: int) -> tuple[int, int] | None:
  """The two children of `node`, or None for a leaf."""
  if node < base:
    return None
  first = 2 * (node - base)
  return first, first + 1


def _check_base(base: int) -> None:
  if base not in BASES:
    raise ValueError(f"tree base must be one of {BASES}, got {base!r}")


def tree_cell_space(base: int = 8) -> SearchSpace:
  """The §3.4 recurrent-cell search space for a tree of `base` leaves.

  Every node's combination shares the controller's ``'combine'`` softmax and
  every activation the ``'activation'`` softmax; the cell inject's two
  decisions share them too (same choices). The two cell indices are separate
  decisions over the node numbers.

  Args:
    base: number of leaves, one of `BASES`.

  Returns:
    A `SearchSpace` named ``nas_rnn_cell_base{base}`` with ``4 * base + 2``
    tokens, in the order documented in this module.
  """
  _check_base(base)
  nodes = tuple(range(num_nodes(base)))
  decisions = []
  for node in nodes:
    decisions.append(Categorical(f"node_{node}/combine", COMBINATIONS,
                                 kind="combine"))
    decisions.append(Categorical(f"node_{node}/activation", ACTIVATIONS,
                                 kind="activation"))
  decisions += [
      Categorical("inject/combine", COMBINATIONS, kind="combine"),
      Categorical("inject/activation", ACTIVATIONS, kind="activation"),
      Categorical("cell_index/output", nodes),
      Categorical("cell_index/inject", nodes),
  ]
  return SearchSpace(
      name=f"nas_rnn_cell_base{base}",
      decisions=tuple(decisions),
      metadata=(("base", base), ("num_nodes", num_nodes(base))))


@dataclasses.dataclass(frozen=True)
class TreeCellSpec:
  """A decoded §3.4 cell: what `child.nas_tree_cell.cell.TreeCell` builds.

  Attributes:
    base: number of leaves.
    combinations: per node (module numbering), one of `COMBINATIONS`.
    activations: per node, one of `ACTIVATIONS`.
    inject_combination: how c_{t-1} is combined into the inject node's output.
    inject_activation: the activation applied after that combination.
    cell_output_node: the node whose pre-activation value becomes c_t.
    inject_node: the node whose output receives c_{t-1}.
  """

  base: int
  combinations: tuple[str, ...]
  activations: tuple[str, ...]
  inject_combination: str
  inject_activation: str
  cell_output_node: int
  inject_node: int

  def __post_init__(self):
    _check_base(self.base)
    n = num_nodes(self.base)
    if len(self.combinations) != n or len(self.activations) != n:
      raise ValueError(f"base {self.base} needs {n} combinations and "
                       f"activations, got {len(self.combinations)} and "
                       f"{len(self.activations)}")
    for value in self.combinations + (self.inject_combination,):
      if value not in COMBINATIONS:
        raise ValueError(f"unknown combination {value!r}; known {COMBINATIONS}")
    for value in self.activations + (self.inject_activation,):
      if value not in ACTIVATIONS:
        raise ValueError(f"unknown activation {value!r}; known {ACTIVATIONS}")
    for name in ("cell_output_node", "inject_node"):
      if not 0 <= getattr(self, name) < n:
        raise ValueError(f"{name}={getattr(self, name)} is not in [0, {n})")

  @property
  def num_nodes(self) -> int:
    return num_nodes(self.base)

  @property
  def root(self) -> int:
    return root(self.base)

  def children(self, node: int) -> tuple[int, int] | None:
    return children(self.base, node)

  def to_tokens(self) -> tuple[int, ...]:
    """The tokens in sampling order (inverse of `decode`)."""
    tokens = []
    for combination, activation in zip(self.combinations, self.activations):
      tokens += [COMBINATIONS.index(combination), ACTIVATIONS.index(activation)]
    tokens += [COMBINATIONS.index(self.inject_combination),
               ACTIVATIONS.index(self.inject_activation),
               self.cell_output_node, self.inject_node]
    return tuple(tokens)

  def to_architecture(self) -> Architecture:
    """This cell as a point of `tree_cell_space(base)`."""
    return tree_cell_space(self.base).from_tokens(self.to_tokens())

  def to_dict(self) -> dict[str, Any]:
    """JSON-friendly fields (for Keras `get_config`)."""
    out = dataclasses.asdict(self)
    out["combinations"] = list(self.combinations)
    out["activations"] = list(self.activations)
    return out

  @classmethod
  def from_dict(cls, config: dict[str, Any]) -> "TreeCellSpec":
    config = dict(config)
    config["combinations"] = tuple(config["combinations"])
    config["activations"] = tuple(config["activations"])
    return cls(**config)

  def equations(self) -> list[str]:
    """The cell as readable equations, one per node, then c_t and h_t."""
    def apply(activation: str, combination: str, a: str, b: str) -> str:
      op = " + " if combination == "add" else " * "
      return f"{activation}({a}{op}{b})"

    lines, names = [], {}
    for node in range(self.num_nodes):
      kids = self.children(node)
      a, b = ((f"W{node} x", f"(U{node} h + b{node})") if kids is None
              else (names[kids[0]], names[kids[1]]))
      lines.append(f"a{node} = " + apply(self.activations[node],
                                        self.combinations[node], a, b))
      names[node] = f"a{node}"
      if node == self.inject_node:
        lines.append(f"a{node}_new = " + apply(
            self.inject_activation, self.inject_combination, f"a{node}",
            "c_prev"))
        names[node] = f"a{node}_new"
    lines.append(f"c = pre-activation of a{self.cell_output_node}")
    lines.append(f"h = {names[self.root]}")
    return lines


def decode(arc: Architecture) -> TreeCellSpec:
  """Reads an architecture of a `tree_cell_space` as a `TreeCellSpec`.

  Raises:
    ValueError: `arc` does not belong to a tree-cell space.
  """
  base = arc.space.meta("base")
  if base not in BASES or arc.space != tree_cell_space(base):
    raise ValueError(f"{arc.space.name!r} is not a tree_cell_space")
  tokens = arc.tokens
  n = num_nodes(base)
  return TreeCellSpec(
      base=base,
      combinations=tuple(COMBINATIONS[t] for t in tokens[0:2 * n:2]),
      activations=tuple(ACTIVATIONS[t] for t in tokens[1:2 * n:2]),
      inject_combination=COMBINATIONS[tokens[2 * n]],
      inject_activation=ACTIVATIONS[tokens[2 * n + 1]],
      cell_output_node=tokens[2 * n + 2],
      inject_node=tokens[2 * n + 3])


def _base8(nodes: Sequence[tuple[str, str]], inject: tuple[str, str],
           cell_output_node: int, inject_node: int) -> TreeCellSpec:
  return TreeCellSpec(
      base=8,
      combinations=tuple(c for c, _ in nodes),
      activations=tuple(a for _, a in nodes),
      inject_combination=inject[0], inject_activation=inject[1],
      cell_output_node=cell_output_node, inject_node=inject_node)


def lstm_equivalent_spec() -> TreeCellSpec:
  """A base-8 tree that computes exactly an LSTM (Hochreiter & Schmidhuber).

  Gates, with leaves holding the LSTM's pre-activations (the spare leaves 1,
  5, 6, 7 get zero weights when copying an LSTM):

    f = node 8 = sigmoid(leaf0 + leaf1);     i * g = node 9 = leaf2 * leaf3,
        leaf2 = sigmoid(.) = i, leaf3 = tanh(.) = g;
    inject c_{t-1} into node 8 with (elem_mult, identity): f * c_{t-1};
    node 12 = tanh(f * c_{t-1} + i * g), so c_t = node 12 pre-activation;
    o = node 13 = sigmoid(node10 + node11), nodes 10, 11 and leaves 4..7
        identity sums;
    h_t = root 14 = o * tanh(c_t).
  """
  add, mult = "add", "elem_mult"
  return _base8(
      nodes=[(add, "identity"), (add, "identity"), (add, "sigmoid"),
             (add, "tanh"), (add, "identity"), (add, "identity"),
             (add, "identity"), (add, "identity"),
             (add, "sigmoid"), (mult, "identity"), (add, "identity"),
             (add, "identity"),
             (add, "tanh"), (add, "sigmoid"),
             (mult, "identity")],
      inject=(mult, "identity"), cell_output_node=12, inject_node=8)


def paper_nas_cell_spec() -> TreeCellSpec:
  """The published base-8 PTB cell (Zoph & Le 2017, Appendix Figure 8).

  Transcribed from the equations of TF1's ``tf.contrib.rnn.NASCell``, which
  implements that cell; it fits this encoding exactly:

    leaves: 0 sigmoid(+), 1 relu(+), 2 sigmoid(+), 3 relu(*), 4 tanh(+),
            5 sigmoid(+), 6 tanh(+), 7 sigmoid(+);
    8 = tanh(a0 * a1), 9 = tanh(a2 + a3), 10 = tanh(a4 * a5),
    11 = sigmoid(a6 + a7);
    inject into node 8 with (add, tanh): a8_new = tanh(a8 + c_{t-1});
    12 = a8_new * a9 (identity), c_t = its pre-activation (= its output);
    13 = tanh(a10 + a11);  h_t = root 14 = tanh(a12 * a13).
  """
  add, mult = "add", "elem_mult"
  return _base8(
      nodes=[(add, "sigmoid"), (add, "relu"), (add, "sigmoid"),
             (mult, "relu"), (add, "tanh"), (add, "sigmoid"),
             (add, "tanh"), (add, "sigmoid"),
             (mult, "tanh"), (add, "tanh"), (mult, "tanh"), (add, "sigmoid"),
             (mult, "identity"), (add, "tanh"),
             (mult, "tanh")],
      inject=(add, "tanh"), cell_output_node=12, inject_node=8)
