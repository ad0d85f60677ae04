"""Pictures of ENAS macro networks (Pham et al. 2018, §2.3, Figure 3).

`draw` turns a macro architecture into Graphviz DOT text, read top-down: the
stem, one box per layer with its op (colored by op kind, the same colors as
every family's pictures), the chain from each layer to the next (a layer's
op reads the previous layer's output, the stem's for layer 1), a dashed
edge for each skip connection (node j's output added to the layer's output:
node 0 is the stem, node k the output of layer k), and the classifier. A
layer after which the network reduces its resolution says so.
`runner.pictures` renders it.
"""

from __future__ import annotations

from child import dot
from controller.search_space import Architecture
from enas.macro import space as space_lib


def draw(arc: Architecture) -> str:
  """DOT text of the macro network `arc`."""
  decoded = space_lib.decode_macro(arc)
  graph = dot.Graph("enas_macro", rankdir="TB", nodesep="0.4",
                    label=f"ENAS macro network, {decoded.num_layers} layers "
                    "(dashed: skip connections, added to the layer's output)")
  nodes = [graph.node("stem", "stem\nconv3x3", fill="#f0f0f0")]
  for layer in decoded.layers:
    label = f"layer {layer.index + 1}\n{layer.op_name}"
    if layer.index in decoded.pool_layers:
      label += "\nthen reduce x2"
    nodes.append(graph.node(f"layer_{layer.index + 1}", label,
                            fill=dot.color(layer.op_name)))
    graph.edge(nodes[layer.index], nodes[-1], color="#252525",
               penwidth="2", weight="10")
    for j in layer.skips:
      graph.edge(nodes[j], nodes[-1], color="#969696",
                 style="dashed", constraint="false")
  out = graph.node("output", "global avg pool\nsoftmax", fill="#ffffcc")
  graph.edge(nodes[-1], out, color="#252525", penwidth="2", weight="10")
  return graph.source()
