"""Pictures of Zoph & Le CNNs (Zoph & Le 2017, §3.1, §3.3, Figure 7).

`draw` turns a NAS CNN architecture into Graphviz DOT text, read top-down:
the image, one box per layer with its filter height x width, number of
filters and stride (pooling layers: window and stride; colored by layer
kind), an edge from every layer its anchor point chose (§3.3; several inputs
are concatenated in depth, smaller maps zero-padded), the image into every
layer that chose none, and the classifier, which concatenates the last
layer with every output no layer reads. `runner.pictures` renders it.
"""

from __future__ import annotations

from child import dot
from child.nas_cnn import space as space_lib
from controller.search_space import Architecture


def _label(index: int, layer) -> str:
  size = f"{layer.filter_height}x{layer.filter_width}"
  if layer.kind == "conv":
    what = f"conv {size}, {layer.num_filters} filters"
  else:
    what = f"{layer.kind} {size}"
  stride = f"\nstride {layer.stride}" if layer.stride != 1 else ""
  return f"layer {index + 1}\n{what}{stride}"


def draw(arc: Architecture) -> str:
  """DOT text of the NAS CNN `arc`."""
  layers = space_lib.decode(arc)
  graph = dot.Graph("nas_cnn", rankdir="TB", nodesep="0.4",
                    label=f"NAS CNN, {len(layers)} layers (edges: each "
                    "layer's inputs, concatenated)")
  image = graph.node("image", "image", fill="#f0f0f0", shape="ellipse")
  nodes = []
  for i, layer in enumerate(layers):
    nodes.append(graph.node(f"layer_{i + 1}", _label(i, layer),
                            fill=dot.color(layer.kind)))
    for j in layer.inputs or ():
      graph.edge(nodes[j], nodes[i], color="#525252",
                 weight="10" if j == i - 1 else "1")
    if not layer.inputs:
      graph.edge(image, nodes[i], color="#969696", style="dashed")
  out = graph.node("output", "concat\nglobal avg pool, softmax",
                   fill="#ffffcc")
  read = {j for layer in layers for j in layer.inputs}
  for i in range(len(layers)):
    if i == len(layers) - 1 or i not in read:
      graph.edge(nodes[i], out, color="#525252")
  return graph.source()
