"""Checked commit points: arrays + a JSON marker, with one step of fallback.

A commit point is ``<prefix>-<step>.npz`` (arrays) and ``<prefix>.json``
(the marker: the caller's JSON-able info, the npz's name and sha256, and a
checksum of its own fields). Commit order: the npz, then the current marker
copied to ``<prefix>.previous.json``, then the new marker, then npz files
neither marker names are removed; every write is atomic
(`child.atomic_files`), so a kill at any point leaves a usable commit.

`load` checks the marker (JSON, checksum, fields) and the npz (sha256,
readable without pickle); when the last commit fails, it falls back to the
previous one and says so in one line. The search's run directory
(`runner.run_dir`, ``state``) and final training's per-epoch checkpoint
(``final_checkpoint``) both commit this way.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from typing import Any, Callable, Optional

import numpy as np

from child import atomic_files


class CommitPointError(Exception):
  """Both the last commit point and the one before it fail their checks."""


def save(directory: str, prefix: str, step: int,
         arrays: dict[str, np.ndarray], info: dict[str, Any]) -> None:
  """Commits `arrays` and `info` as step `step` (see the module doc).

  Raises:
    ValueError: `info` uses a key of the marker's own (``step``, ``npz``,
      ``sha256``, ``checksum``).
  """
  clash = {"step", "npz", "sha256", "checksum"} & set(info)
  if clash:
    raise ValueError(f"commit info may not use the keys {sorted(clash)}")
  name = f"{prefix}-{step}.npz"
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  data = buffer.getvalue()
  marker = os.path.join(directory, f"{prefix}.json")
  previous = os.path.join(directory, f"{prefix}.previous.json")
  atomic_files.atomic_write_bytes(os.path.join(directory, name), data)
  current = _read_json(marker)
  # Only a marker that passes its checksum becomes the fallback (a corrupt
  # one would push out a good previous commit).
  if (isinstance(current, dict) and current.get("npz") != name
      and current.get("checksum") == _checksum(current)):
    atomic_files.atomic_write_json(previous, current)
  atomic_files.atomic_write_json(marker, _sealed(
      dict(info, step=step, npz=name, sha256=hashlib.sha256(data).hexdigest())))
  keep = {name}
  before = _read_json(previous)
  if isinstance(before, dict):
    keep.add(before.get("npz"))
  for old in os.listdir(directory):
    if old.startswith(f"{prefix}-") and old.endswith(".npz") and old not in keep:
      os.remove(os.path.join(directory, old))


def load(directory: str, prefix: str,
         log: Optional[Callable[[str], None]] = None
         ) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
  """The last commit that passes its checks, or None if there is none.

  When the last commit (marker or npz) is missing, torn or corrupt, the
  previous one is used and `log` receives one line saying so; when there is
  no previous commit, None (start over), also said in one line.

  Raises:
    CommitPointError: both commits exist and fail their checks.
  """
  log = log or (lambda _: None)
  if not os.path.exists(os.path.join(directory, f"{prefix}.json")):
    return None
  try:
    return _checked(directory, f"{prefix}.json")
  except _Corrupt as e:
    problem = str(e)
  previous = f"{prefix}.previous.json"
  if not os.path.exists(os.path.join(directory, previous)):
    log(f"warning: {problem}; no earlier commit point, starting from the "
        "beginning")
    return None
  try:
    info, arrays = _checked(directory, previous)
  except _Corrupt as e:
    raise CommitPointError(f"{problem}, and the previous commit point too "
                           f"({e})") from None
  log(f"warning: {problem}; falling back to the previous commit point "
      f"(step {info['step']})")
  return info, arrays


def exists(directory: str, prefix: str) -> bool:
  return os.path.exists(os.path.join(directory, f"{prefix}.json"))


class _Corrupt(Exception):
  """A commit point fails its checks (the message says which and why)."""


def _read_json(path: str) -> Any:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _checksum(info: dict[str, Any]) -> str:
  text = json.dumps({k: v for k, v in info.items() if k != "checksum"},
                    sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()


def _sealed(info: dict[str, Any]) -> dict[str, Any]:
  """`info` with the checksum of its other fields."""
  return dict(info, checksum=_checksum(info))


def _checked(directory: str, marker: str
             ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
  """Reads and checks one commit; raises `_Corrupt` saying why."""
  try:
    with open(os.path.join(directory, marker), "rb") as f:
      info = json.loads(f.read().decode())
  except (OSError, ValueError) as e:
    raise _Corrupt(f"{marker} is unreadable ({type(e).__name__})") from None
  if not isinstance(info, dict) or info.get("checksum") != _checksum(info):
    raise _Corrupt(f"{marker} fails its checksum")
  npz = info.get("npz")
  if (not isinstance(npz, str) or os.path.basename(npz) != npz
      or not isinstance(info.get("step"), int)):
    raise _Corrupt(f"{marker} is malformed")
  try:
    with open(os.path.join(directory, npz), "rb") as f:
      data = f.read()
  except OSError:
    raise _Corrupt(f"{npz} named by {marker} is missing") from None
  if hashlib.sha256(data).hexdigest() != info.get("sha256"):
    raise _Corrupt(f"{npz} fails its sha256 check")
  try:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
      out = {k: arrays[k] for k in arrays.files}
  except (OSError, ValueError, KeyError, EOFError) as e:
    raise _Corrupt(f"{npz} is unreadable ({type(e).__name__})") from None
  return {k: v for k, v in info.items() if k != "checksum"}, out
