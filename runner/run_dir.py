"""The on-disk layout of a search run, written atomically.

A run directory holds:

* ``operative_config.gin``: the gin configuration the run used.
* ``architectures.jsonl``: one JSON line per evaluated architecture,
  appended and flushed to disk as each finishes (see `runner.loop`).
* ``rounds.jsonl``: one JSON line per finished round of the search.
* ``state-<round>.npz`` + ``state.json``: the strategy's and evaluator's
  state after the last finished round. ``state.json`` is the commit point: it
  is replaced atomically after the npz of its step is complete and names
  that file, so a reader never trusts a half-written checkpoint; older npz
  files are removed after the commit.
* ``best.json``: the search's result (replaced atomically).

Every whole-file write goes to a temporary file in the same directory and is
moved into place with `os.replace`, so a kill never leaves a truncated file.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from typing import Any, Iterable

import numpy as np

from child.atomic_files import atomic_write_bytes, atomic_write_json


class RunDirError(Exception):
  """The output directory cannot be used as asked."""


ARCHITECTURES = "architectures.jsonl"
BEST = "best.json"
STATE_JSON = "state.json"
OPERATIVE_CONFIG = "operative_config.gin"


def prepare(output_dir: str, *, resume: bool, overwrite: bool) -> bool:
  """Makes `output_dir` ready; returns True when resuming an existing run.

  Raises:
    RunDirError: the directory holds a run and neither flag was given, or
      --resume was given but there is nothing to resume.
  """
  if resume and overwrite:
    raise RunDirError("--resume and --overwrite exclude each other")
  exists = os.path.isdir(output_dir) and bool(os.listdir(output_dir))
  if exists and not (resume or overwrite):
    raise RunDirError(
        f"output directory {output_dir} already exists; pass --resume to "
        "continue it or --overwrite to replace it")
  if resume:
    if not exists:
      raise RunDirError(f"--resume: no run in {output_dir}")
    return True
  if exists and overwrite:
    shutil.rmtree(output_dir)
  os.makedirs(output_dir, exist_ok=True)
  return False


class RunDir:
  """Reads and writes one run directory."""

  def __init__(self, path: str):
    self.path = path

  def file(self, name: str) -> str:
    return os.path.join(self.path, name)

  # json-lines logs -----------------------------------------------------
  def append_jsonl(self, name: str, record: dict[str, Any]) -> None:
    """Appends one line to the log `name` and forces it to disk."""
    with open(self.file(name), "a") as f:
      f.write(json.dumps(record, sort_keys=True) + "\n")
      f.flush()
      os.fsync(f.fileno())

  def read_jsonl(self, name: str) -> list[dict[str, Any]]:
    """Every complete line of the log `name` (a torn last line is skipped)."""
    path = self.file(name)
    if not os.path.exists(path):
      return []
    out = []
    with open(path) as f:
      for line in f:
        try:
          out.append(json.loads(line))
        except json.JSONDecodeError:
          continue
    return out

  def rewrite_jsonl(self, name: str, records: Iterable[dict[str, Any]]) -> None:
    """Atomically replaces the log `name` (drops torn or uncommitted lines)."""
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    atomic_write_bytes(self.file(name), text.encode())

  def append_child(self, record: dict[str, Any]) -> None:
    """Appends one evaluated architecture to ``architectures.jsonl``."""
    self.append_jsonl(ARCHITECTURES, record)

  def children(self) -> list[dict[str, Any]]:
    """Every complete line of ``architectures.jsonl``."""
    return self.read_jsonl(ARCHITECTURES)

  def rewrite_children(self, records: Iterable[dict[str, Any]]) -> None:
    self.rewrite_jsonl(ARCHITECTURES, records)

  # strategy state ------------------------------------------------------
  def save_state(self, step: int, arrays: dict[str, np.ndarray],
                 info: dict[str, Any]) -> None:
    """Saves the strategy after update `step` (npz first, then the marker)."""
    name = f"state-{step}.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(self.file(name), buffer.getvalue())
    atomic_write_json(self.file(STATE_JSON), dict(info, step=step, npz=name))
    for old in os.listdir(self.path):
      if old.startswith("state-") and old.endswith(".npz") and old != name:
        os.remove(self.file(old))

  def load_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    if not os.path.exists(self.file(STATE_JSON)):
      return None
    with open(self.file(STATE_JSON)) as f:
      info = json.load(f)
    with np.load(self.file(info["npz"]), allow_pickle=False) as data:
      arrays = {k: data[k] for k in data.files}
    return info, arrays

  # best and config -----------------------------------------------------
  def write_best(self, record: dict[str, Any]) -> None:
    atomic_write_json(self.file(BEST), record)

  def write_config(self, text: str) -> None:
    atomic_write_bytes(self.file(OPERATIVE_CONFIG), text.encode())
