"""Child tasks: what "evaluate this architecture" means for a NAS run.

A task owns a search space and turns one architecture into a result record
(reward, validation score, parameters, seconds, status). NAS mode (Zoph & Le
§3.2) trains each child on its own; the task is built once per worker process
and keeps its data set in memory between children.
"""

from __future__ import annotations

from typing import Any, Protocol

import gin

from controller import errors
from controller import gin_modules
from controller import search_space as ss


class ChildTask(Protocol):
  """Evaluates architectures of one search space."""

  space: ss.SearchSpace

  def parse(self, text: str) -> Any:
    """An architecture string (or a named fixed architecture) to evaluate."""

  def evaluate(self, arc: ss.Architecture, seed: int,
               final_dir: str | None = None) -> dict[str, Any]:
    """Trains the child; returns a record with at least reward and status.

    With `final_dir` (final training) it also measures the test set and may
    save the model there.
    """


_TASKS = {
    "image_classification": ("child.nas_cnn.task", "ImageClassificationTask"),
    "language_model": ("child.nas_tree_cell.task", "LanguageModelTask"),
    "enas_image_final": ("enas.image.final_task", "EnasImageFinalTask"),
    "enas_rnn_final": ("enas.recurrent.final_task", "EnasRnnFinalTask"),
}


@gin.configurable
def make_task(task: str = "image_classification") -> ChildTask:
  """Builds the child task named in gin (each lives in its family's home)."""
  if task not in _TASKS:
    raise errors.ConfigError(
        f"unknown task {task!r} (use one of {', '.join(sorted(_TASKS))})")
  module, name = _TASKS[task]
  return getattr(gin_modules.import_module(module), name)()
