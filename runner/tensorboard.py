"""TensorBoard event files of a search and of a final training.

`TensorBoardObserver` is a `runner.loop.Observer`: ``experiments.search``
gives one to the loop, which writes ``RUN/tensorboard/``:

* per evaluated architecture, step = its index in the search:
  ``child/<field>`` for every number of its ``architectures.jsonl`` record
  (``child/reward``, ``child/valid_accuracy`` or ``child/valid_ppl``,
  ``child/params``, ``child/seconds``) and ``child/best_reward`` (the best
  so far). Shared-weight rewards are search-phase scores (the record's
  ``phase``), never retrained ones.
* per round, step = the round (NAS: the controller update; ENAS: the
  epoch): ``controller/<name>`` for the strategy's numbers (``loss``,
  ``baseline``, ``grad_norm``, ``mean_entropy``, ... of the round's last
  update) and ``controller/entropy`` (mean over the round's samples);
  ``shared/<name>`` (shared-weight evaluators: ``train_loss``,
  ``train_accuracy`` or ``train_ppl``, ``lr``, ``grad_norm``,
  ``clip_fraction``, ...) or ``evaluator/<name>`` (from scratch) for the
  evaluator's numbers; ``search/mean_reward``, ``search/failed``,
  ``search/seconds``, ``search/mean_valid_accuracy`` (or ``_ppl``); the
  text ``search/best_sampled``; the image ``search/best_sampled_picture``
  (the round's best architecture, drawn by ``runner.pictures`` when
  Graphviz is installed).
* at the end: the text ``result/best`` (best.json), ``result/<score>``
  scalars, the image ``result/best_picture``, and the text
  ``config/operative_gin``;
  at the start, ``config/gin`` (every binding).

`evaluate_logged` runs a final training (``experiments.train_final``,
``experiments.compare``) with its epochs' scalars (`child.summaries`) and
HParams (architecture, seed, the task's config values; the final scores as
metrics ``result/<score>``) in ``OUT/tensorboard/``. So ``tensorboard
--logdir runs/`` shows a search and its retraining (``RUN/retrained/``)
side by side, and the HParams tab compares retrainings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
from typing import Any, Callable

import gin

from child import summaries
from controller import search_space as ss

LOGDIR = "tensorboard"
"""The event files' folder in a run or output directory."""

_NOT_CHILD_SCALARS = ("index", "round", "controller_step", "slot")
_ROUND_SCALARS = {"mean_reward": "search/mean_reward", "evaluated": "search/evaluated",
                  "failed": "search/failed", "seconds": "search/seconds",
                  "controller_entropy": "controller/entropy",
                  "mean_sampled_valid_accuracy": "search/mean_valid_accuracy",
                  "mean_sampled_valid_ppl": "search/mean_valid_ppl"}
FINAL_SCORES = ("test_accuracy", "valid_accuracy", "test_ppl", "valid_ppl", "params", "seconds")
"""The fields of a final training's record logged as ``result/<field>``."""


def _is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


@gin.configurable(denylist=["logdir", "parse"])
class TensorBoardObserver:
  """Writes a search's scalars, texts and pictures (see the module doc).

  Attributes:
    logdir: where the event files go (``RUN/tensorboard``).
    enabled: False writes nothing (gin: ``TensorBoardObserver.enabled``).
    pictures: log the best architectures as images (needs
      ``runner.pictures`` and Graphviz; skipped silently without them).
  """

  def __init__(self, logdir: str, parse: Callable[[str], Any] | None = None,
               enabled: bool = True, pictures: bool = True):
    """
    Args:
      logdir: where the event files go.
      parse: turns a recorded architecture string into an architecture
        (the evaluator's ``parse``), for the pictures.
      enabled: False: every method does nothing.
      pictures: log the best architectures as images.
    """
    self.logdir = logdir
    self.enabled = enabled
    self.pictures = pictures and parse is not None
    self._parse = parse
    self._writer = None
    self._phase = None
    self._best_reward = None
    self._step = 0
    self._last_picture = None

  # ------------------------------------------------------------ the hooks
  def on_record(self, record: dict[str, Any]) -> None:
    if not self.enabled:
      return
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self._phase = record.get("phase", self._phase)
    step = record["index"]
    if record.get("status") == "ok" and _is_number(record.get("reward")):
      if self._best_reward is None or record["reward"] > self._best_reward:
        self._best_reward = record["reward"]
    with self._open().as_default():
      for key, value in record.items():
        if _is_number(value) and key not in _NOT_CHILD_SCALARS:
          tf.summary.scalar(f"child/{key}", value, step=step)
      if self._best_reward is not None:
        tf.summary.scalar("child/best_reward", self._best_reward, step=step)

  def on_round(self, summary: dict[str, Any]) -> None:
    if not self.enabled:
      return
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    step = self._step = summary["round"]
    evaluator_prefix = "shared" if self._phase == "shared_weights" else "evaluator"
    with self._open().as_default():
      for key, tag in _ROUND_SCALARS.items():
        if _is_number(summary.get(key)):
          tf.summary.scalar(tag, summary[key], step=step)
      for key, value in (summary.get("strategy") or {}).items():
        if _is_number(value):
          tf.summary.scalar(f"controller/{key.removeprefix('controller_')}", value, step=step)
      for key, value in (summary.get("evaluator") or {}).items():
        if _is_number(value):
          tf.summary.scalar(f"{evaluator_prefix}/{key}", value, step=step)
      if summary.get("best_sampled"):
        tf.summary.text("search/best_sampled", _table(summary["best_sampled"]), step=step)
        self._log_picture("search/best_sampled_picture", summary["best_sampled"][0]["arc"], step)
    self._writer.flush()

  def on_result(self, best: dict[str, Any]) -> None:
    if not self.enabled:
      return
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    step = self._step
    with self._open().as_default():
      if best:
        tf.summary.text("result/best", _best_text(best), step=step)
        for key, value in best.items():
          if _is_number(value) and key != "index":
            tf.summary.scalar(f"result/{key}", value, step=step)
        if best.get("candidates"):
          tf.summary.text("result/candidates", _table(best["candidates"]), step=step)
        self._last_picture = None
        self._log_picture("result/best_picture", best["arc"], step)
      operative = gin.operative_config_str()
      if operative:
        tf.summary.text("config/operative_gin", _code(operative), step=step)
    self.close()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None

  # ------------------------------------------------------------- helpers
  def _open(self):
    if self._writer is None:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      self._writer = tf.summary.create_file_writer(self.logdir)
      config = gin.config_str()
      if config:
        with self._writer.as_default():
          tf.summary.text("config/gin", _code(config), step=0)
    return self._writer

  def _log_picture(self, tag: str, arc_text: str, step: int) -> None:
    """The architecture's picture, if `runner.pictures` can draw it."""
    if not self.pictures or arc_text == self._last_picture:
      return
    self._last_picture = arc_text
    image = architecture_image(self._parse(arc_text))
    if image is not None:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      tf.summary.image(tag, image[None], step=step)


def architecture_image(arc):
  """An ``[H, W, 3]`` uint8 tensor of `arc`'s picture, or None.

  Drawn by ``runner.pictures.write_picture``; None when it cannot draw (no
  Graphviz, or a space without a drawer): a picture is decoration, so it
  never stops a search.
  """
  from runner import pictures  # pylint: disable=g-import-not-at-top
  if shutil.which("dot") is None:   # only the DOT text could be written
    return None
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, "arc.png")
      if path not in pictures.write_picture(arc, path):
        return None
      with open(path, "rb") as f:
        png = f.read()
    return tf.io.decode_png(png, channels=3)
  except Exception:  # pylint: disable=broad-except
    return None


def _code(text: str) -> str:
  """`text` as a Markdown code block (TensorBoard renders text as Markdown)."""
  return "\n".join("    " + line for line in text.splitlines())


def _table(rows: list[dict[str, Any]]) -> str:
  """Markdown table of architectures and their numbers."""
  keys = [k for k in dict.fromkeys(k for row in rows for k in row) if k != "arc"]
  lines = ["| arc | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
  for row in rows:
    cells = [f"{row[k]:.4f}" if isinstance(row.get(k), float) else str(row.get(k, "")) for k in keys]
    lines.append(f"| `{row['arc']}` | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def _best_text(best: dict[str, Any]) -> str:
  lines = [f"**{best.get('space', '')}** `{best['arc']}`", ""]
  lines += [f"* {k}: {best[k]}" for k in ("phase", "reward", "valid_accuracy", "valid_ppl", "params", "derived_on")
            if best.get(k) is not None]
  if best.get("description"):
    lines += ["", _code("\n".join(best["description"]))]
  return "\n".join(lines)


# ------------------------------------------------------------ final training
def final_hparams(task, arc, seed: int, name: str | None = None) -> dict[str, Any]:
  """HParams of a final training: the architecture, its space, the seed, and
  every scalar setting of the task's config dataclasses (``Class.field``)."""
  values: dict[str, Any] = {"arc": str(arc), "seed": seed, "task": type(task).__name__}
  if isinstance(getattr(task, "space", None), ss.SearchSpace):
    values["space"] = task.space.name
  if name is not None:
    values["name"] = name
  for value in vars(task).values():
    if (dataclasses.is_dataclass(value) and not isinstance(value, type)
        and not isinstance(value, ss.SearchSpace)):
      for field in dataclasses.fields(value):
        setting = getattr(value, field.name)
        if isinstance(setting, (bool, int, float, str)):
          values[f"{type(value).__name__}.{field.name}"] = setting
  return values


def evaluate_logged(task, arc, seed: int, final_dir: str, name: str | None = None
                    ) -> dict[str, Any]:
  """``task.evaluate(arc, seed, final_dir=final_dir)`` with TensorBoard.

  Writes ``final_dir/tensorboard/``: the epochs' scalars (``final/...``,
  `child.summaries`), HParams (`final_hparams`), the final scores as
  ``result/<field>`` (the HParams metrics), the operative gin config.

  Returns:
    The task's record.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import api as hparams_api  # pylint: disable=g-import-not-at-top
  hparams = final_hparams(task, arc, seed, name)
  trial = hashlib.sha1(repr(sorted(hparams.items())).encode()).hexdigest()[:12]
  with summaries.writing(os.path.join(final_dir, LOGDIR)) as epochs:
    with epochs.writer.as_default():
      hparams_api.hparams(hparams, trial_id=trial)
    epochs.writer.flush()
    record = task.evaluate(arc, seed, final_dir=final_dir)
    with epochs.writer.as_default():
      for key in FINAL_SCORES:
        if _is_number(record.get(key)):
          tf.summary.scalar(f"result/{key}", record[key], step=0)
      tf.summary.text("result/status", f"{record.get('status')} {record.get('error') or ''}".strip(), step=0)
      operative = gin.operative_config_str()
      if operative:
        tf.summary.text("config/operative_gin", _code(operative), step=0)
  return record
