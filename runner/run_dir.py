"""The on-disk layout of a search run, written atomically.

A run directory holds:

* ``operative_config.gin``: the gin configuration the run used.
* ``architectures.jsonl``: one JSON line per evaluated architecture,
  appended and flushed to disk as each finishes (see `runner.loop`).
* ``rounds.jsonl``: one JSON line per finished round of the search.
* ``state-<round>.npz`` + ``state.json``: the strategy's and evaluator's
  state after the last finished round. ``state.json`` is the commit point: it
  is replaced atomically after the npz of its step is complete, names that
  file and records its sha256 and a checksum of its own fields, so a reader
  never trusts a half-written or corrupted checkpoint. The commit before it
  stays as ``state.previous.json`` + its npz: when the last one fails its
  checks, `RunDir.load_state` falls back to it and says so in one line.
  Older npz files are removed after the commit (`child.commit_points`).
* ``best.json``: the search's result (replaced atomically).

Every whole-file write goes to a temporary file in the same directory and is
moved into place with `os.replace`, so a kill never leaves a truncated file.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Callable, Iterable, Optional

import numpy as np

from child import atomic_files
from child import commit_points
from child.atomic_files import atomic_write_bytes, atomic_write_json


class RunDirError(Exception):
  """The output directory cannot be used as asked."""


ARCHITECTURES = "architectures.jsonl"
BEST = "best.json"
STATE = "state"
STATE_JSON = "state.json"
OPERATIVE_CONFIG = "operative_config.gin"


def prepare(output_dir: str, *, resume: bool, overwrite: bool) -> bool:
  """Makes `output_dir` ready; returns True when resuming an existing run.

  Raises:
    RunDirError: the directory holds a run and neither flag was given,
      --resume was given but there is nothing to resume, or the directory
      cannot be created (permissions, a read-only file system, a file in
      the way).
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
  try:
    if exists and overwrite:
      shutil.rmtree(output_dir)
    os.makedirs(output_dir, exist_ok=True)
  except OSError as e:
    raise RunDirError(f"cannot create output directory {output_dir}: "
                      f"{e.strerror or e}") from None
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
    atomic_files.append_line(self.file(name), json.dumps(record, sort_keys=True))

  def read_jsonl(self, name: str) -> list[dict[str, Any]]:
    """Every complete line of the log `name` (a torn last line is skipped)."""
    path = self.file(name)
    if not os.path.exists(path):
      return []
    out = []
    with open(path) as f:
      for line in f:
        try:
          value = json.loads(line)
        except json.JSONDecodeError:
          continue
        if isinstance(value, dict):
          out.append(value)
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
    """Commits the state after update `step` (`child.commit_points.save`)."""
    commit_points.save(self.path, STATE, step, arrays, info)

  def load_state(self, log: Optional[Callable[[str], None]] = None
                 ) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """The last commit that passes its checks, or None if there is none.

    A corrupt last commit falls back to the one before, saying so to `log`
    (`child.commit_points.load`).

    Raises:
      RunDirError: both commits exist and fail their checks.
    """
    try:
      return commit_points.load(self.path, STATE, log)
    except commit_points.CommitPointError as e:
      raise RunDirError(f"--resume: {e}; start again with --overwrite") from None

  # best and config -----------------------------------------------------
  def write_best(self, record: dict[str, Any]) -> None:
    atomic_write_json(self.file(BEST), record)

  def write_config(self, text: str) -> None:
    atomic_write_bytes(self.file(OPERATIVE_CONFIG), text.encode())

