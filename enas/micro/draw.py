"""Pictures of ENAS micro cells (Pham et al. 2018, §2.4, Figures 4 and 5).

`draw` turns a micro architecture into Graphviz DOT text: the normal and the
reduction cell as two boxes, read left to right. In each, the cell inputs
h[i-2] (id 0) and h[i-1] (id 1), one node per chosen pair of ops, each op
written on the edge from the input it reads (colored by op kind, the same
colors as every family's pictures), and the cell output: the concatenation
of the loose ends, the ids no node reads (cell inputs included, as the
official code). `runner.pictures` renders it.
"""

from __future__ import annotations

from child import dot
from controller.search_space import Architecture
from enas.micro import space as space_lib

_INPUTS = ("h[i-2]", "h[i-1]")
"""Labels of the cell inputs 0 and 1 (the cell before the previous one, the
previous one)."""


def _stack(graph: dot.Graph, ids: list[str]) -> None:
  """Keeps `ids` in one rank, the first on top (left to right: invisible
  edges from each to the one above it)."""
  graph.same_rank(ids)
  for upper, lower in zip(ids, ids[1:]):
    graph.edge(lower, upper, style="invis")


def _keep_in_order(graph: dot.Graph, ids: list[str],
                   cell: space_lib.MicroCell) -> None:
  """Stacks the nodes of one depth (longest path from the inputs) in id order."""
  depth = [0] * len(_INPUTS)
  for node in cell.nodes:
    depth.append(1 + max(depth[node.index_1], depth[node.index_2]))
  for level in sorted(set(depth[len(_INPUTS):])):
    same = [ids[i] for i in range(len(_INPUTS), len(ids)) if depth[i] == level]
    if len(same) > 1:
      _stack(graph, same)


def _cell(graph: dot.Graph, name: str, cell: space_lib.MicroCell,
          note: str) -> None:
  """Adds one cell as a cluster whose node ids start with `name`."""
  graph.begin_cluster(name, f"{name} cell{note}")
  ids = [graph.node(f"{name}/{i}", label, fill="#f0f0f0", shape="ellipse")
         for i, label in enumerate(_INPUTS)]
  _stack(graph, ids)
  for position, node in enumerate(cell.nodes, start=len(_INPUTS)):
    ids.append(graph.node(f"{name}/{position}", f"node {position}\n(sum)"))
    for index, op in ((node.index_1, node.op_1), (node.index_2, node.op_2)):
      op_name = space_lib.MICRO_OPS[op]
      graph.edge(ids[index], ids[position], op_name,
                 color=dot.edge_color(op_name), penwidth="2")
  _keep_in_order(graph, ids, cell)
  out = graph.node(f"{name}/out", "output\nconcat", fill="#ffffcc",
                   shape="box")
  for index in cell.loose_ends:
    graph.edge(ids[index], out, color="#969696", style="dashed")
  graph.end_cluster()


def draw(arc: Architecture) -> str:
  """DOT text of `arc`'s normal and reduction cells (one cluster each)."""
  decoded = space_lib.decode_micro(arc)
  graph = dot.Graph("enas_micro", rankdir="LR", nodesep="0.3",
                    label=f"ENAS micro cells: {arc.to_string()}")
  # Graphviz stacks a left-to-right graph's clusters bottom-up: the
  # reduction cell goes first so that the normal cell is drawn on top.
  _cell(graph, "reduction", decoded.reduction,
        " (ops reading h[i-2], h[i-1] have stride 2)")
  _cell(graph, "normal", decoded.normal, "")
  return graph.source()
