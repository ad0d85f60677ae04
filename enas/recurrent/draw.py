"""Pictures of ENAS recurrent cells (Pham et al. 2018, §2.1, Figure 1).

`draw` turns a recurrent cell into Graphviz DOT text, read top-down: the
inputs x_t and h_{t-1}, which node 0 reads; one box per node with its
activation (colored by activation, the same colors as every family's
pictures); an edge from the node each node reads; and the cell output h_t,
the average of the loose ends (the nodes no node reads).
`runner.pictures` renders it.
"""

from __future__ import annotations

from child import dot
from controller.search_space import Architecture
from enas.recurrent import space as space_lib


def draw(arc: Architecture) -> str:
  """DOT text of the recurrent cell `arc`."""
  cell = space_lib.decode_rnn(arc)
  names = cell.activation_names()
  graph = dot.Graph("enas_rnn", rankdir="TB", nodesep="0.35",
                    label=f"ENAS recurrent cell, {cell.num_nodes} nodes")
  inputs = [graph.node("x_t", "x[t]", fill="#f0f0f0", shape="ellipse"),
            graph.node("h_prev", "h[t-1]", fill="#f0f0f0", shape="ellipse")]
  graph.same_rank(inputs)
  nodes = []
  for i, name in enumerate(names):
    nodes.append(graph.node(f"node_{i}", f"{i}\n{name}", fill=dot.color(name)))
    tails = inputs if i == 0 else [nodes[cell.prev[i]]]
    for tail in tails:
      graph.edge(tail, nodes[i], color="#525252")
  average = graph.node("average", "average", fill="#ffffcc", shape="ellipse")
  for i in cell.loose_ends:
    graph.edge(nodes[i], average, color="#969696", style="dashed")
  graph.edge(average, graph.node("h_t", "h[t]", fill="#f0f0f0",
                                 shape="ellipse"), color="#525252")
  return graph.source()
