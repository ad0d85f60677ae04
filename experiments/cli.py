"""What the binaries share: flags, gin parsing, run directories, errors."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import sys
import time
from typing import Any, Sequence

from absl import flags

from child import quiet_tensorflow
from controller import search_space
from controller import errors
from runner import run_dir as run_dir_lib

# The define_* helpers below define flags of the binary that calls them: its
# --help and --helpshort list them as its own.
flags.disclaim_key_flags()


def import_tensorflow_quietly() -> None:
  """Imports TensorFlow without its start-up messages (`child.quiet_tensorflow`)."""
  quiet_tensorflow.import_tensorflow()


def define_gin_flags() -> None:
  """Defines --gin_file and --gin_bindings, both repeatable."""
  flags.DEFINE_multi_string("gin_file", [], "gin files, applied in order.")
  flags.DEFINE_multi_string("gin_bindings", [], "gin bindings, after the files.")


def define_arc_flags(verb: str, *, multi: bool = False) -> None:
  """Defines --arc and --arc_file: the architecture(s) the binary works on.

  Args:
    verb: what the binary does with the architecture ("train", "count"),
      for the help of --arc_file.
    multi: whether both flags repeat (several architectures).
  """
  if multi:
    flags.DEFINE_multi_string("arc", [], "architecture strings or task names.")
    flags.DEFINE_multi_string("arc_file", [],
                              f"best.json files whose 'arc' to {verb}.")
  else:
    flags.DEFINE_string("arc", None, "the architecture string.")
    flags.DEFINE_string("arc_file", None, f"a best.json whose 'arc' to {verb}.")


def define_output_flags(output_dir: str, *, overwrite: str,
                        resume: str | None = None) -> None:
  """Defines --output_dir, --overwrite and, when given, --resume.

  Args:
    output_dir: help of --output_dir (what the binary writes there).
    overwrite: help of --overwrite.
    resume: help of --resume; None for a binary that cannot resume.
  """
  flags.DEFINE_string("output_dir", None, output_dir)
  if resume is not None:
    flags.DEFINE_bool("resume", False, resume)
  flags.DEFINE_bool("overwrite", False, overwrite)


class UsageError(Exception):
  """A mistake in how the binary was called."""


def _first_line(error: BaseException) -> str:
  text = str(error).strip() or type(error).__name__
  return text.splitlines()[0]


# OSErrors that mean the output cannot be written where the user asked
# (permissions, a full disk or quota, a read-only file system, a path that
# is no directory): one line, not a traceback.
_OUTPUT_ERRNOS = frozenset(getattr(errno, name) for name in (
    "EACCES", "EPERM", "ENOSPC", "EDQUOT", "EROFS", "ENOTDIR", "EISDIR",
    "ENAMETOOLONG", "EEXIST") if hasattr(errno, name))


def os_error_line(error: OSError) -> str:
  """One line for an OSError of writing or reading the user's files."""
  where = f" {error.filename}" if error.filename else ""
  reason = error.strerror or _first_line(error)
  line = f"cannot use{where}: {reason}"
  if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
    line += " (work finished before this write is saved; free space and " \
            "continue with --resume)"
  return line


@contextlib.contextmanager
def user_errors():
  """Turns expected mistakes into one line on stderr and exit code 2.

  Besides the project's own user errors: an OSError of a file the user
  named or of the output directory (permission denied, disk full, ...);
  other OSErrors still raise with a traceback (they are bugs).
  """
  from child import datasets  # pylint: disable=g-import-not-at-top
  # FloatingPointError: a diverging loss (e.g. the ENAS shared-weight
  # training), reported with the setting to change.
  expected = (UsageError, run_dir_lib.RunDirError, search_space.ArchitectureError,
              datasets.DatasetNotFoundError, FloatingPointError,
              errors.ConfigError, errors.WorkersLostError)
  try:
    yield
  except expected as e:
    print(f"error: {_first_line(e)}", file=sys.stderr)
    sys.exit(2)
  except OSError as e:
    if e.errno not in _OUTPUT_ERRNOS:
      raise
    print(f"error: {os_error_line(e)}", file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:
    print("interrupted: finished children are saved; continue with --resume",
          file=sys.stderr)
    sys.exit(130)


_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_gin(gin_files: Sequence[str], gin_bindings: Sequence[str]) -> None:
  """Parses gin, turning its errors into `UsageError`.

  The binaries' own configurables (the experiment, the budget, the task
  registry, the strategy) are registered first; everything else is imported
  by the gin files that bind it.
  """
  import gin  # pylint: disable=g-import-not-at-top
  from runner import experiment  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from runner import retrain  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from runner import tasks  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from runner import tensorboard  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  if not gin_files:
    raise UsageError("pass at least one --gin_file (see gin/)")
  for path in gin_files:
    if not os.path.exists(path):
      raise UsageError(f"gin file not found: {path}")
  # gin logs every include it looks for relative to the working directory
  # before its search path ("Path not found: ..."): not the user's business.
  gin_logger = logging.getLogger()
  level = gin_logger.level
  gin_logger.setLevel(logging.CRITICAL)
  try:
    gin.add_config_file_search_path(_REPO_ROOT)
    gin.parse_config_files_and_bindings(
        list(gin_files), list(gin_bindings), skip_unknown=False)
  except (ValueError, SyntaxError, KeyError, TypeError, ImportError) as e:
    raise UsageError(f"bad gin configuration: {_first_line(e)}") from None
  finally:
    gin_logger.setLevel(level)


def configured_task(gin_files: Sequence[str], gin_bindings: Sequence[str]):
  """Parses gin and returns the task it configures (`runner.tasks`)."""
  parse_gin(gin_files, gin_bindings)
  from runner import tasks  # pylint: disable=g-import-not-at-top
  return tasks.make_task()


def configured_arc(gin_files: Sequence[str], gin_bindings: Sequence[str],
                   arc: str | None, arc_file: str | None):
  """Parses gin; returns its task and the architecture of --arc/--arc_file."""
  task = configured_task(gin_files, gin_bindings)
  return task, task.parse(arc_text(arc, arc_file))


def default_output_dir(gin_files: Sequence[str]) -> str:
  stem = os.path.splitext(os.path.basename(gin_files[0]))[0] if gin_files \
      else "run"
  return os.path.join("runs", f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}")


def run_search(gin_files, gin_bindings, output_dir, *, seed, resume,
               overwrite) -> dict[str, Any]:
  """Parses gin, prepares the run directory and runs the configured search."""
  parse_gin(gin_files, gin_bindings)
  import gin  # pylint: disable=g-import-not-at-top
  from runner import experiment as experiment_lib  # pylint: disable=g-import-not-at-top
  from runner import loop  # pylint: disable=g-import-not-at-top
  from runner import retrain  # pylint: disable=g-import-not-at-top
  retrain.Retrain()  # a bad retraining setting stops before the search
  resumed = run_dir_lib.prepare(output_dir, resume=resume, overwrite=overwrite)
  from runner import tensorboard  # pylint: disable=g-import-not-at-top
  run = run_dir_lib.RunDir(output_dir)
  try:
    if not resumed:
      run.write_config(gin.config_str())
    experiment = experiment_lib.make_experiment(seed)
    observer = tensorboard.TensorBoardObserver(run.file(tensorboard.LOGDIR), parse=experiment.evaluator.parse)
    best = loop.run_search(run, experiment.strategy, experiment.evaluator,
                           experiment.budget, seed,
                           objective=experiment.objective,
                           observers=[observer])
  except Exception:
    # A fresh run that failed before any child or epoch finished leaves no
    # directory behind, so the same command can simply be run again once
    # fixed; one with saved progress is kept for --resume.
    if (not resumed and not run.children()
        and not os.path.exists(run.file(run_dir_lib.STATE_JSON))):
      shutil.rmtree(output_dir, ignore_errors=True)
    raise
  # The settings the run actually read.
  run.write_config(gin.operative_config_str())
  from runner import pictures  # pylint: disable=g-import-not-at-top
  pictures.write_best_pictures(output_dir, experiment.evaluator.parse)
  return best


def print_result(best: dict[str, Any], output_dir: str) -> None:
  """The closing lines of a search: the architecture, its score, the files."""
  if not best:
    print(f"no child finished successfully; see {output_dir}/architectures.jsonl")
    return
  print("")
  from runner import loop  # pylint: disable=g-import-not-at-top
  print(f"best architecture ({best['space']}): {best['arc']}")
  scores = [f"reward {best['reward']:.4g}"]
  for key in loop.SCORES:
    if best.get(key) is not None:
      scores.append(f"{loop.SCORE_LABELS[key]} {best[key]:.4f}")
  if best.get("params"):
    scores.append(f"params {best['params']:,}")
  print(f"score ({loop.phase_label(best.get('phase'))}): " + "  ".join(scores))
  if best.get("description"):
    print("\n".join(best["description"]))
  else:
    print("decisions: " + json.dumps(best.get("decisions", {}))[:2000])
  files = [name for name in ("best.json", "best.svg", "architectures.jsonl",
                              "rounds.jsonl", "operative_config.gin")
           if os.path.exists(os.path.join(output_dir, name))]
  print(f"results: {os.path.abspath(output_dir)} ({', '.join(files)})")


def arc_text(arc: str | None, arc_file: str | None) -> str:
  """The architecture string from --arc or from --arc_file's 'arc' field."""
  if bool(arc) == bool(arc_file):
    raise UsageError("pass exactly one of --arc and --arc_file")
  if arc:
    return arc
  try:
    with open(arc_file) as f:
      return json.load(f)["arc"]
  except (OSError, ValueError, KeyError) as e:
    raise UsageError(f"cannot read an 'arc' from {arc_file}: "
                     f"{_first_line(e)}") from None


def print_retrained(retrained, run_path: str) -> None:
  """The closing lines of a search's retraining (`runner.retrain.Retrained`).

  The test score retrained from scratch, where the files went, and the
  command of a longer retraining of the same architecture (`Retrain.
  longer_gin_files`, `longer_gin_bindings`; without them, the command of
  this retraining).
  """
  if retrained is None:
    return
  import shlex  # pylint: disable=g-import-not-at-top
  record = retrained.record
  print("")
  source = ", ".join(record.get("gin_files") or ["the search's configuration"])
  if record.get("gin_bindings"):
    count = len(record["gin_bindings"])
    source += f" + {count} binding{'s' if count != 1 else ''}"
  earlier = ", from an earlier run of this search" if retrained.reused else ""
  if record.get("status") != "ok":
    print(f"retraining from scratch failed ({source}): "
          f"{record.get('error') or record.get('status')}")
  else:
    scores = []
    for key, label in (("test_accuracy", "test_acc"), ("test_ppl", "test_ppl"),
                       ("valid_accuracy", "valid_acc"),
                       ("valid_ppl", "valid_ppl")):
      if record.get(key) is not None:
        scores.append(f"{label} {record[key]:.4f}")
    if record.get("params"):
      scores.append(f"params {record['params']:,}")
    if record.get("seconds") is not None:
      scores.append(f"{record['seconds']:.0f}s")
    print(f"retrained from scratch ({source}, seed {record.get('seed')}"
          f"{earlier}): " + "  ".join(scores))
  files = sorted(os.listdir(retrained.output_dir))
  print(f"retrained: {os.path.abspath(retrained.output_dir)} "
        f"({', '.join(f for f in files if not f.startswith('.'))})")
  gin_files = retrained.longer_gin_files or (
      os.path.join(run_path, run_dir_lib.OPERATIVE_CONFIG),)
  command = ["python3", "-m", "experiments.train_final"]
  command += [f"--gin_file={f}" for f in gin_files]
  command += [f"--gin_bindings={b}" for b in retrained.longer_gin_bindings]
  command += [f"--arc_file={os.path.join(run_path, run_dir_lib.BEST)}",
              f"--output_dir={os.path.join(run_path, 'final')}"]
  label = "longer retraining" if retrained.longer else "retrain again"
  print(f"{label}: " + shlex.join(command))


def device_line() -> str:
  """One line naming the devices TensorFlow trains on.

  ``devices: GPU:0 (NVIDIA A100-SXM4-40GB), GPU:1 (...)`` when TensorFlow
  sees GPUs, else ``devices: CPU:0 (2 cores)`` (the cores this process may
  use). Reads the physical devices only, so TensorFlow's runtime is not
  initialized (logical devices can still be configured afterwards).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with quiet_tensorflow.stderr_silenced():  # see child.quiet_tensorflow
    gpus = tf.config.list_physical_devices("GPU")
  if gpus:
    names = []
    for i, gpu in enumerate(gpus):
      try:
        name = tf.config.experimental.get_device_details(gpu).get("device_name")
      except (ValueError, RuntimeError):
        name = None
      names.append(f"GPU:{i}" + (f" ({name})" if name else ""))
    return "devices: " + ", ".join(names)
  try:
    cores = len(os.sched_getaffinity(0))
  except AttributeError:  # not Linux
    cores = os.cpu_count() or 1
  return f"devices: CPU:0 ({cores} core{'s' if cores != 1 else ''})"


def print_devices() -> None:
  """Prints `device_line` (the binaries' first line)."""
  print(device_line(), flush=True)
