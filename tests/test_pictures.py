"""Pictures: each family draws its architectures as Graphviz DOT text, as in the papers' figures."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from child.nas_cnn import space as nas_cnn_space
from child.nas_tree_cell import space as tree_space
from controller import errors
from controller import search_space as ss
from enas.macro import space as macro_space
from enas.micro import space as micro_space
from enas.recurrent import space as rnn_space
from runner import pictures

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README_MICRO_ARC = "1 2 0 4 0 0 0 1 0 0 1 3 0 4 1 0 0 3 1 1 1 1 1 3"
_EDGE = re.compile(r'^\s*"([^"]+)" -> "([^"]+)"(?: \[(.*)\])?;$')
_NODE = re.compile(r'^\s*"([^"]+)" \[(.*)\];$')


def parse_dot(text):
  """(nodes: id -> attribute text, edges: list of (tail, head, attribute text)).

  Invisible edges (they only order the layout) are not edges of the picture.
  """
  nodes, edges = {}, []
  for line in text.splitlines():
    edge = _EDGE.match(line)
    if edge and 'style="invis"' in (edge.group(3) or ""):
      continue
    if edge:
      edges.append((edge.group(1), edge.group(2), edge.group(3) or ""))
      continue
    node = _NODE.match(line)
    if node:
      nodes[node.group(1)] = node.group(2)
  return nodes, edges


def label(attributes):
  found = re.search(r'label="([^"]*)"', attributes)
  return found.group(1) if found else ""


def labelled_edges(edges):
  return sorted((tail, head, label(attrs)) for tail, head, attrs in edges)


def test_a_micro_cell_has_its_inputs_nodes_ops_on_edges_and_concat_output():
  arc = micro_space.as_micro_architecture(README_MICRO_ARC)
  nodes, edges = parse_dot(pictures.dot_source(arc))
  # per cell: h[i-2], h[i-1], 3 nodes, the output
  assert len(nodes) == 12
  assert label(nodes["normal/0"]) == "h[i-2]"
  assert label(nodes["reduction/1"]) == "h[i-1]"
  # per cell: two op edges per node, one edge per loose end (nodes 2, 3, 4)
  assert len(edges) == 18
  normal = [e for e in labelled_edges(edges) if e[0].startswith("normal/")]
  assert normal == [
      ("normal/0", "normal/2", "identity"),
      ("normal/0", "normal/3", "sep_conv3x3"),
      ("normal/0", "normal/3", "sep_conv5x5"),
      ("normal/0", "normal/4", "sep_conv3x3"),
      ("normal/1", "normal/2", "avg_pool3x3"),
      ("normal/1", "normal/4", "max_pool3x3"),
      ("normal/2", "normal/out", ""),
      ("normal/3", "normal/out", ""),
      ("normal/4", "normal/out", "")]
  assert ("reduction/1", "reduction/4", "max_pool3x3") in labelled_edges(edges)


def test_a_micro_node_reading_a_node_and_an_unread_cell_input_are_drawn():
  paper = micro_space.as_micro_architecture(micro_space.PAPER_MICRO_ARC)
  _, edges = parse_dot(pictures.dot_source(paper))
  assert ("reduction/3", "reduction/4", "sep_conv5x5") in labelled_edges(edges)
  one_node = micro_space.micro_space(num_nodes=1).parse("0 0 0 1 1 2 1 3")
  _, edges = parse_dot(pictures.dot_source(one_node))
  # normal node 2 reads input 0 twice: input 1 is a loose end, concatenated
  assert ("normal/1", "normal/out", "") in labelled_edges(edges)
  assert ("normal/0", "normal/out", "") not in labelled_edges(edges)


def test_ops_of_one_kind_have_one_color_and_kinds_differ():
  arc = micro_space.as_micro_architecture(README_MICRO_ARC)
  _, edges = parse_dot(pictures.dot_source(arc))
  colors = {}
  for _, _, attrs in edges:
    if label(attrs):
      colors.setdefault(label(attrs), set()).add(
          re.search(r'color="([^"]+)"', attrs).group(1))
  assert all(len(c) == 1 for c in colors.values())
  assert len({c.pop() for c in colors.values()}) == len(colors) == 5


def test_a_nas_cnn_layer_with_a_skip_reads_the_layer_it_chose():
  # layer 1: 3x3, 48 filters; layer 2: 1x7, 24, reads layer 1;
  # layer 3: 3x5, 64, reads layer 1 only (skips layer 2)
  arc = nas_cnn_space.nas_cnn_space(num_layers=3).parse("1 1 2 0 3 0 1 1 2 3 1 0")
  nodes, edges = parse_dot(pictures.dot_source(arc))
  assert len(nodes) == 5   # image, 3 layers, classifier
  assert label(nodes["layer_2"]) == "layer 2\\nconv 1x7, 24 filters"
  assert sorted((t, h) for t, h, _ in edges) == [
      ("image", "layer_1"), ("layer_1", "layer_2"), ("layer_1", "layer_3"),
      ("layer_2", "output"),   # read by no layer: concatenated at the end
      ("layer_3", "output")]


def test_a_tree_cell_shows_the_inject_between_a_node_and_its_parent():
  # Figure 5 of Zoph & Le: inject c[t-1] into node 0, c[t] from node 1
  arc = tree_space.tree_cell_space(2).parse("0 1 1 3 1 2 0 3 1 0")
  nodes, edges = parse_dot(pictures.dot_source(arc))
  assert len(nodes) == 9   # x, h, c[t-1], inject, 3 tree nodes, c[t], h[t]
  assert label(nodes["node_1"]) == "node 1\\nrelu(*)"
  assert label(nodes["inject"]) == "inject c[t-1]\\nrelu(+)"
  pairs = [(t, h) for t, h, _ in edges]
  assert len(edges) == 10
  assert ("node_0", "inject") in pairs and ("c_prev", "inject") in pairs
  assert ("inject", "node_2") in pairs and ("node_0", "node_2") not in pairs
  assert ("node_1", "c_t", "pre-activation") in labelled_edges(edges)
  assert ("node_2", "h_t") in pairs


def test_a_macro_network_chains_its_layers_and_dashes_its_skips():
  # layer 1 conv3x3; layer 2 sep_conv3x3 + the stem; layer 3 max_pool + layer 1
  arc = macro_space.macro_space(num_layers=3).parse("0 1 1 5 0 1")
  nodes, edges = parse_dot(pictures.dot_source(arc))
  assert len(nodes) == 5
  assert label(nodes["layer_3"]).endswith("max_pool3x3")
  chain = sorted((t, h) for t, h, a in edges if "dashed" not in a)
  skips = sorted((t, h) for t, h, a in edges if "dashed" in a)
  assert chain == [("layer_1", "layer_2"), ("layer_2", "layer_3"),
                   ("layer_3", "output"), ("stem", "layer_1")]
  assert skips == [("layer_1", "layer_3"), ("stem", "layer_2")]


def test_a_recurrent_cell_averages_its_loose_ends():
  # node 1 relu(node 0), node 2 identity(node 0), node 3 sigmoid(node 1)
  arc = rnn_space.rnn_cell_space(4).parse("0 0 1 0 2 1 3")
  nodes, edges = parse_dot(pictures.dot_source(arc))
  assert len(nodes) == 8   # x, h, 4 nodes, average, h[t]
  assert label(nodes["node_3"]) == "3\\nsigmoid"
  assert sorted((t, h) for t, h, _ in edges) == [
      ("average", "h_t"), ("h_prev", "node_0"), ("node_0", "node_1"),
      ("node_0", "node_2"), ("node_1", "node_3"), ("node_2", "average"),
      ("node_3", "average"), ("x_t", "node_0")]


def test_a_space_without_a_drawer_is_a_config_error():
  space = ss.SearchSpace("mystery", (ss.Categorical("a", (1, 2)),))
  with pytest.raises(errors.ConfigError, match="mystery"):
    pictures.dot_source(space.from_tokens([0]))


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz")
def test_svg_and_png_are_rendered_by_graphviz(tmp_path):
  arc = micro_space.as_micro_architecture(README_MICRO_ARC)
  assert pictures.write_picture(arc, str(tmp_path / "c.svg")) == [
      str(tmp_path / "c.svg")]
  assert "<svg" in (tmp_path / "c.svg").read_text()
  pictures.write_picture(arc, str(tmp_path / "c.png"))
  assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert sorted(os.listdir(tmp_path)) == ["c.png", "c.svg"]


def test_without_graphviz_only_the_dot_text_is_written(tmp_path, monkeypatch):
  monkeypatch.setattr(pictures.shutil, "which", lambda name: None)
  said = []
  arc = rnn_space.rnn_cell_space(4).parse("0 0 1 0 2 1 3")
  written = pictures.write_picture(arc, str(tmp_path / "cell.png"), said.append)
  assert written == [str(tmp_path / "cell.dot")]
  assert os.listdir(tmp_path) == ["cell.dot"]
  assert len(said) == 1 and "cell.dot" in said[0]


def test_a_picture_file_of_another_kind_is_refused(tmp_path):
  arc = rnn_space.rnn_cell_space(4).parse("0 0 1 0 2 1 3")
  with pytest.raises(errors.ConfigError, match="cell.pdf"):
    pictures.write_picture(arc, str(tmp_path / "cell.pdf"))


def test_the_search_draws_its_best_and_a_failure_is_one_warning(tmp_path,
                                                                  monkeypatch):
  monkeypatch.setattr(pictures.shutil, "which", lambda name: None)
  space = rnn_space.rnn_cell_space(4)
  (tmp_path / "best.json").write_text('{"arc": "0 0 1 0 2 1 3"}')
  said = []
  written = pictures.write_best_pictures(str(tmp_path), space.parse, said.append)
  assert written == [str(tmp_path / "best.dot")]
  assert (tmp_path / "best.dot").read_text().startswith('digraph "enas_rnn"')
  (tmp_path / "best.json").write_text('{"arc": "0 0 9"}')
  said.clear()
  assert pictures.write_best_pictures(str(tmp_path), space.parse,
                                      said.append) == []
  assert len(said) == 1 and said[0].startswith("warning: ")


def test_the_draw_binary_says_a_malformed_arc_in_one_line(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "experiments.draw",
       "--gin_file=gin/enas/fashion_mnist_final_cpu.gin",
       "--arc=" + README_MICRO_ARC[:-1] + "x", f"--out={tmp_path / 'c.svg'}"],
      cwd=REPO, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ")
  assert "position 23" in lines[0]
  assert not os.listdir(tmp_path)
