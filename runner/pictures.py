"""Pictures of architectures: DOT text from each family's drawer, rendered by Graphviz.

Every search-space family draws its own architectures in its home (a
``draw`` module with ``draw(arc) -> str``, the DOT text; Zoph & Le's CNN and
tree cell, ENAS's macro network, micro cells and recurrent cell). This
module finds the drawer of an architecture by its space's name and renders
the text with the ``dot`` binary of Graphviz:

  text = pictures.dot_source(arc)
  pictures.write_picture(arc, "cell.svg")     # .dot, .svg or .png

Without the ``dot`` binary only the DOT text is written (beside the asked
file, ``cell.dot``), with one line saying so. A search writes the picture of
its result into its run directory (`write_best_pictures`: ``best.dot``,
``best.svg``); a picture that fails there costs one warning line, never the
search.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Callable

from child import atomic_files
from controller import errors
from controller import gin_modules
from controller import search_space as ss

_HOMES = {
    "nas_cnn": "child.nas_cnn.draw",
    "nas_rnn_cell_base": "child.nas_tree_cell.draw",
    "enas_macro": "enas.macro.draw",
    "enas_micro": "enas.micro.draw",
    "enas_rnn": "enas.recurrent.draw",
}
"""Space name, less a trailing size (``nas_rnn_cell_base8``), -> the module
of its family's ``draw``."""

FORMATS = (".dot", ".svg", ".png")
BEST_PICTURES = ("best.dot", "best.svg")
"""What a search writes beside ``best.json``."""


class RenderError(RuntimeError):
  """Graphviz could not render a picture."""


def _home(space: ss.SearchSpace) -> str:
  key = space.name.rstrip("0123456789")
  if key not in _HOMES:
    raise errors.ConfigError(f"no drawer for the search space {space.name!r} "
                             f"(drawn: {', '.join(sorted(_HOMES))})")
  return _HOMES[key]


def dot_source(arc: ss.Architecture) -> str:
  """The Graphviz DOT text of `arc`, drawn by its family.

  Raises:
    errors.ConfigError: no family draws `arc`'s space.
  """
  return gin_modules.import_module(_home(arc.space)).draw(arc)


def _stderr(line: str) -> None:
  print(line, file=sys.stderr)


def write_picture(arc: ss.Architecture, out_path: str,
                  log: Callable[[str], None] = _stderr) -> list[str]:
  """Writes the picture of `arc` to `out_path` (atomically).

  Args:
    arc: the architecture.
    out_path: ends in ``.dot`` (the text), ``.svg`` or ``.png`` (rendered).
    log: receives the one line said when Graphviz is missing.

  Returns:
    The paths written: ``[out_path]``, or, without the ``dot`` binary, the
    DOT text beside it (``out_path`` with the suffix ``.dot``).

  Raises:
    errors.ConfigError: `out_path` has another suffix, or no family draws
      `arc`'s space.
    RenderError: ``dot`` failed.
  """
  stem, suffix = os.path.splitext(out_path)
  if suffix not in FORMATS:
    raise errors.ConfigError(
        f"a picture file ends in {', '.join(FORMATS)}, not {out_path!r}")
  text = dot_source(arc)
  if suffix == ".dot":
    atomic_files.atomic_write_bytes(out_path, text.encode())
    return [out_path]
  binary = shutil.which("dot")
  if binary is None:
    atomic_files.atomic_write_bytes(stem + ".dot", text.encode())
    log(f"Graphviz 'dot' not found: wrote only {stem}.dot (install graphviz "
        f"to render {suffix[1:]})")
    return [stem + ".dot"]
  try:
    done = subprocess.run([binary, f"-T{suffix[1:]}"], input=text.encode(),
                          capture_output=True, timeout=120, check=False)
  except (OSError, subprocess.TimeoutExpired) as e:
    raise RenderError(f"dot failed: {e}") from None
  if done.returncode != 0 or not done.stdout:
    message = done.stderr.decode(errors="replace").strip().splitlines()
    raise RenderError("dot failed: " + (message[0] if message
                                        else f"exit {done.returncode}"))
  atomic_files.atomic_write_bytes(out_path, done.stdout)
  return [out_path]


def write_best_pictures(run_path: str, parse: Callable[[str], ss.Architecture],
                        log: Callable[[str], None] = _stderr) -> list[str]:
  """Draws the architecture of ``run_path/best.json`` as `BEST_PICTURES`.

  Never raises: a run directory without a result gives nothing, and any
  failure is one warning line (the search's results matter more than its
  picture).

  Args:
    run_path: the run directory.
    parse: the search's parser of architecture strings (its evaluator's).
    log: receives the warning line.

  Returns:
    The paths written.
  """
  path = os.path.join(run_path, "best.json")
  if not os.path.exists(path):
    return []
  written: list[str] = []
  try:
    with open(path) as f:
      arc = parse(json.load(f)["arc"])
    for name in BEST_PICTURES:
      for done in write_picture(arc, os.path.join(run_path, name), log):
        if done not in written:
          written.append(done)
  except Exception as e:  # pylint: disable=broad-except
    text = (str(e).strip() or type(e).__name__).splitlines()[0]
    log(f"warning: no picture of the best architecture: {text}")
  return written
