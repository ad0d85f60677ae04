"""Graphviz DOT text, built as plain strings: what every family's drawer shares.

Each search-space family draws its own architectures in its home
(``child/nas_cnn/draw.py``, ``enas/micro/draw.py``, ...) with a `Graph`;
`runner.pictures` finds the drawer of an architecture's space and renders
the text with the ``dot`` binary. Nothing here knows a family.

The text is one statement per line (a node line holds ``[label=``, an edge
line holds ``->``), so a test can count and read them. Op kinds get the same
fill color in every family (`color`): a 3x3 separable convolution looks the
same in a macro network and in a micro cell.
"""

from __future__ import annotations

import hashlib
from typing import Any

_COLORS = {
    # convolutions: blues and purples
    "conv": ("#9ecae1", "#2171b5"),
    "conv3x3": ("#9ecae1", "#2171b5"),
    "conv5x5": ("#4292c6", "#08519c"),
    "sep_conv3x3": ("#bcbddc", "#6a51a3"),
    "sep_conv5x5": ("#807dba", "#54278f"),
    # pooling and identity
    "avg_pool3x3": ("#a1d99b", "#238b45"),
    "max_pool": ("#fdae6b", "#d94801"),
    "max_pool3x3": ("#fdae6b", "#d94801"),
    "identity": ("#d9d9d9", "#636363"),
    # activations
    "tanh": ("#fdd0a2", "#d94801"),
    "relu": ("#c7e9c0", "#238b45"),
    "sigmoid": ("#fcbba1", "#cb181d"),
    # combinations
    "add": ("#ffffff", "#525252"),
    "elem_mult": ("#fff7bc", "#b8a600"),
}
"""(fill, line) color per op kind, shared by every family's pictures."""

_FALLBACK = (("#fbb4ae", "#cb181d"), ("#b3cde3", "#2171b5"),
             ("#ccebc5", "#238b45"), ("#decbe4", "#6a51a3"),
             ("#fed9a6", "#d94801"), ("#e5d8bd", "#8c6d31"))


def _pair(kind: str) -> tuple[str, str]:
  if kind in _COLORS:
    return _COLORS[kind]
  digest = int(hashlib.sha1(kind.encode()).hexdigest(), 16)
  return _FALLBACK[digest % len(_FALLBACK)]


def color(kind: str) -> str:
  """The fill color of an op kind (a stable fallback for an unknown one)."""
  return _pair(kind)[0]


def edge_color(kind: str) -> str:
  """A darker color of `kind`, for edges and their labels."""
  return _pair(kind)[1]


def quote(text: Any) -> str:
  """A DOT double-quoted string (newlines become centered line breaks)."""
  text = str(text).replace("\\", "\\\\").replace('"', '\\"')
  return '"' + text.replace("\n", "\\n") + '"'


def _attributes(attrs: dict[str, Any]) -> str:
  parts = [f"{key}={quote(value)}" for key, value in attrs.items()
           if value is not None]
  return " [" + ", ".join(parts) + "]" if parts else ""


class Graph:
  """A directed graph written as DOT text.

  Attributes:
    name: the graph's name (also its title in SVG viewers).
  """

  def __init__(self, name: str, *, rankdir: str = "LR", label: str = "",
               **attrs: Any):
    self.name = name
    self._attrs = dict(rankdir=rankdir, label=label or None,
                       labelloc="t" if label else None, fontname="Helvetica",
                       **attrs)
    self._lines: list[str] = []
    self._indent = "  "

  def node(self, node_id: str, label: str, *, fill: str | None = None,
           shape: str = "box", **attrs: Any) -> str:
    """Adds a node; returns its id."""
    style = attrs.pop("style", "rounded,filled" if shape == "box" else "filled")
    self._lines.append(self._indent + quote(node_id) + _attributes(dict(
        label=label, shape=shape, style=style, fillcolor=fill or "#ffffff",
        **attrs)) + ";")
    return node_id

  def edge(self, tail: str, head: str, label: str = "", *,
           color: str | None = None, **attrs: Any) -> None:
    """Adds an edge ``tail -> head`` (label and color optional)."""
    self._lines.append(self._indent + f"{quote(tail)} -> {quote(head)}"
                       + _attributes(dict(label=label or None, color=color,
                                          fontcolor=color if label else None,
                                          **attrs)) + ";")

  def same_rank(self, node_ids: list[str]) -> None:
    """Keeps `node_ids` side by side (one rank)."""
    self._lines.append(self._indent + "{rank=same; "
                       + " ".join(quote(n) for n in node_ids) + "}")

  def begin_cluster(self, name: str, label: str, **attrs: Any) -> None:
    """Opens a boxed subgraph; nodes added until `end_cluster` go inside."""
    self._lines.append(self._indent + f"subgraph {quote('cluster_' + name)} {{")
    self._indent += "  "
    for key, value in dict(label=label, style="rounded", color="#969696",
                           fontname="Helvetica", **attrs).items():
      self._lines.append(self._indent + f"{key}={quote(value)};")

  def end_cluster(self) -> None:
    self._indent = self._indent[:-2]
    self._lines.append(self._indent + "}")

  def source(self) -> str:
    """The DOT text."""
    head = [f"digraph {quote(self.name)} {{"]
    head += [f"  {key}={quote(value)};" for key, value in self._attrs.items()
             if value is not None]
    head += ['  node [fontname="Helvetica", fontsize="12"];',
             '  edge [fontname="Helvetica", fontsize="10"];']
    return "\n".join(head + self._lines + ["}"]) + "\n"
