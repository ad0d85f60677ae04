"""Pictures of Zoph & Le tree cells (Zoph & Le 2017, §3.4, Figure 5).

`draw` turns a tree-cell architecture into Graphviz DOT text, read bottom-up
as Figure 5: the inputs x_t and h_{t-1}, which every leaf reads; one box per
tree node with its combination (+ or elementwise *) and activation (colored
by activation, the same colors as every family's pictures); each internal
node fed by its two children; the cell inject, where c_{t-1} is combined into
the inject node's output before its parent reads it; a dashed edge from the
cell-output node (its pre-activation) to c_t; and the root's output h_t.
`runner.pictures` renders it.
"""

from __future__ import annotations

from child import dot
from child.nas_tree_cell import space as space_lib
from controller.search_space import Architecture

_SYMBOLS = {"add": "+", "elem_mult": "*"}


def _what(combination: str, activation: str) -> str:
  return f"{activation}({_SYMBOLS.get(combination, combination)})"


def draw(arc: Architecture) -> str:
  """DOT text of the tree cell `arc`."""
  spec = space_lib.decode(arc)
  graph = dot.Graph(arc.space.name, rankdir="BT", nodesep="0.25",
                    ordering="in", label=f"NAS tree cell, base {spec.base}")
  inputs = [graph.node("x_t", "x[t]", fill="#f0f0f0", shape="ellipse"),
            graph.node("h_prev", "h[t-1]", fill="#f0f0f0", shape="ellipse")]
  graph.same_rank(inputs)
  c_prev = graph.node("c_prev", "c[t-1]", fill="#f0f0f0", shape="ellipse")
  inject = graph.node("inject", "inject c[t-1]\n" + _what(
      spec.inject_combination, spec.inject_activation),
                      fill=dot.color(spec.inject_activation), shape="box",
                      color="#cb181d", penwidth="2")
  nodes = [graph.node(f"node_{n}", f"node {n}\n" + _what(
      spec.combinations[n], spec.activations[n]),
                      fill=dot.color(spec.activations[n]))
           for n in range(spec.num_nodes)]
  # What each node's parent reads: the node, or the inject after it.
  out = list(nodes)
  out[spec.inject_node] = inject
  graph.edge(nodes[spec.inject_node], inject, color="#525252")
  graph.edge(c_prev, inject, color="#cb181d", penwidth="2")
  for n in range(spec.num_nodes):
    kids = spec.children(n)
    if kids is None:
      for tail in inputs:
        graph.edge(tail, nodes[n], color="#bdbdbd")
    else:
      for kid in kids:
        graph.edge(out[kid], nodes[n], color="#525252")
  c_t = graph.node("c_t", "c[t]", fill="#f0f0f0", shape="ellipse")
  graph.edge(nodes[spec.cell_output_node], c_t, "pre-activation",
             color="#cb181d", style="dashed")
  h_t = graph.node("h_t", "h[t]", fill="#f0f0f0", shape="ellipse")
  graph.edge(out[spec.root], h_t, color="#525252", penwidth="2")
  graph.same_rank([c_t, h_t])
  return graph.source()
