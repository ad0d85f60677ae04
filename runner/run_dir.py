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
  Older npz files are removed after the commit.
* ``best.json``: the search's result (replaced atomically).

Every whole-file write goes to a temporary file in the same directory and is
moved into place with `os.replace`, so a kill never leaves a truncated file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from typing import Any, Callable, Iterable, Optional

import numpy as np

from child import atomic_files
from child.atomic_files import atomic_write_bytes, atomic_write_json


class RunDirError(Exception):
  """The output directory cannot be used as asked."""


ARCHITECTURES = "architectures.jsonl"
BEST = "best.json"
STATE_JSON = "state.json"
PREVIOUS_STATE_JSON = "state.previous.json"
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
    """Commits the state after update `step`.

    Order: the npz, then the current marker copied to
    ``state.previous.json``, then the new ``state.json``, then the npz files
    neither marker names are removed. A kill between any two steps leaves a
    valid last commit (`load_state`).
    """
    name = f"state-{step}.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    atomic_write_bytes(self.file(name), data)
    current = self._read_marker(STATE_JSON)
    if isinstance(current, dict) and current.get("npz") != name:
      atomic_write_json(self.file(PREVIOUS_STATE_JSON), current)
    atomic_write_json(self.file(STATE_JSON), _sealed(
        dict(info, step=step, npz=name,
             sha256=hashlib.sha256(data).hexdigest())))
    keep = {name}
    previous = self._read_marker(PREVIOUS_STATE_JSON)
    if isinstance(previous, dict):
      keep.add(previous.get("npz"))
    for old in os.listdir(self.path):
      if old.startswith("state-") and old.endswith(".npz") and old not in keep:
        os.remove(self.file(old))

  def load_state(self, log: Optional[Callable[[str], None]] = None
                 ) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """The last commit that passes its checks, or None if there is none.

    When ``state.json`` (or its npz) is missing, torn or corrupt, the
    previous commit is used and `log` receives one line saying so; when
    there is no previous commit either, the run starts over (None).

    Raises:
      RunDirError: both commits exist and fail their checks.
    """
    log = log or (lambda _: None)
    if not os.path.exists(self.file(STATE_JSON)):
      return None
    try:
      return self._checked_state(STATE_JSON)
    except _CorruptState as e:
      problem = str(e)
    if not os.path.exists(self.file(PREVIOUS_STATE_JSON)):
      log(f"warning: {problem}; no earlier commit point, starting from the "
          "beginning")
      return None
    try:
      info, arrays = self._checked_state(PREVIOUS_STATE_JSON)
    except _CorruptState as e:
      raise RunDirError(f"--resume: {problem}, and the previous commit point "
                        f"too ({e}); start again with --overwrite") from None
    log(f"warning: {problem}; falling back to the previous commit point "
        f"(step {info['step']})")
    return info, arrays

  def _read_marker(self, name: str) -> Any:
    try:
      with open(self.file(name)) as f:
        return json.load(f)
    except (OSError, ValueError):
      return None

  def _checked_state(self, marker: str
                     ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Reads and checks one commit; raises `_CorruptState` saying why."""
    try:
      with open(self.file(marker), "rb") as f:
        info = json.loads(f.read().decode())
    except (OSError, ValueError) as e:
      raise _CorruptState(f"{marker} is unreadable ({type(e).__name__})") from None
    if not _is_sealed(info):
      raise _CorruptState(f"{marker} fails its checksum")
    npz = info["npz"]
    if (not isinstance(npz, str) or os.path.basename(npz) != npz
        or not isinstance(info.get("step"), int)):
      raise _CorruptState(f"{marker} is malformed")
    try:
      with open(self.file(npz), "rb") as f:
        data = f.read()
    except OSError:
      raise _CorruptState(f"{npz} named by {marker} is missing") from None
    if hashlib.sha256(data).hexdigest() != info.get("sha256"):
      raise _CorruptState(f"{npz} fails its sha256 check")
    try:
      with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        out = {k: arrays[k] for k in arrays.files}
    except (OSError, ValueError, KeyError, EOFError) as e:
      raise _CorruptState(f"{npz} is unreadable ({type(e).__name__})") from None
    info = {k: v for k, v in info.items() if k != "checksum"}
    return info, out

  # best and config -----------------------------------------------------
  def write_best(self, record: dict[str, Any]) -> None:
    atomic_write_json(self.file(BEST), record)

  def write_config(self, text: str) -> None:
    atomic_write_bytes(self.file(OPERATIVE_CONFIG), text.encode())


class _CorruptState(Exception):
  """A commit point fails its checks (the message says which and why)."""


def _checksum(info: dict[str, Any]) -> str:
  text = json.dumps({k: v for k, v in info.items() if k != "checksum"},
                    sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()


def _sealed(info: dict[str, Any]) -> dict[str, Any]:
  """`info` with the checksum of its other fields."""
  return dict(info, checksum=_checksum(info))


def _is_sealed(info: Any) -> bool:
  return (isinstance(info, dict) and "npz" in info
          and info.get("checksum") == _checksum(info))
