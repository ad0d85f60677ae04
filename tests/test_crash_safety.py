"""A search killed at any moment loses nothing and resumes to the same run.

Why an injected exception stands for ``kill -9``: every durable write of a
run (`child.atomic_files`) is either a whole-file write (temporary file,
fsync, `os.replace`) or one fsync'd line appended to a log. A process killed
at any instant has therefore done some prefix of its durable writes, each
completely (at worst the one append in flight is torn, which
``test_a_torn_last_line_is_dropped_not_fatal`` and the corrupt-state cases
below cover). An exception raised just before the k-th durable write leaves
exactly the files of a kill between writes k-1 and k; the process's memory
is then thrown away: the resumed run is built from FRESH objects (run
directory, evaluator) that know only the disk. For speed (building the
controller and the supergraph compiles TensorFlow graphs) those two objects
are built once, and their whole state (`state()`, `checkpoint_variables()`,
what a commit saves) is reset to its initial value before every run and
overwritten from the checkpoint on resume: what a fresh build with the same
seed gives (the fresh-process resume of the image and recurrent evaluators
is tested in their own files, and one real SIGKILL of the binary is below).

For each mode (NAS from scratch, ENAS image, ENAS PTB) the kill points are 5
write indices drawn with a fixed seed from every durable write of the
uninterrupted run; each killed run, resumed, must equal the uninterrupted
one: the same architectures in the same order with the same records,
the same round lines and the same result.
"""

import json
import os
import shutil
import signal

import gin
import numpy as np
import pytest

from child import atomic_files
from controller import strategy as strategy_lib
from enas import checkpoint
from runner import from_scratch
from runner import loop
from runner import run_dir as run_dir_lib
from runner import tasks
import test_binaries
import test_loop_from_scratch as scratch_tests
import test_recurrent_shared_weights as rnn_tests

KILL_POINTS = 5


class Killed(BaseException):
  """The simulated kill (no `except Exception` of a trainer catches it)."""


def _kill_before_write(k):
  def hook(index, path):
    del path
    if index == k:
      raise Killed(k)
  return hook


def _count_writes(run):
  writes = []
  atomic_files.set_write_hook(lambda k, path: writes.append(path))
  try:
    run()
  finally:
    atomic_files.set_write_hook(None)
  return len(writes)


def _kill_points(num_writes, seed):
  rng = np.random.default_rng(seed)
  return sorted(int(k) for k in rng.choice(np.arange(1, num_writes + 1),
                                           size=KILL_POINTS, replace=False))


def _what_a_run_left(path):
  """Everything a run's user reads, without wall-clock times."""
  def strip(record):
    out = {k: v for k, v in record.items() if k != "seconds"}
    if isinstance(out.get("evaluator"), dict):
      out["evaluator"] = {k: v for k, v in out["evaluator"].items()
                          if k != "train_seconds"}
    return out
  run = run_dir_lib.RunDir(str(path))
  children = sorted(run.children(), key=lambda r: r["index"])
  best = json.loads((path / "best.json").read_text())
  return ([strip(r) for r in children],
          [strip(r) for r in run.read_jsonl(loop.ROUNDS)],
          {k: v for k, v in best.items() if k != "seconds"})


def _check_every_kill_point_resumes_to_the_same_run(search, tmp_path, seed):
  """search(path) runs (or resumes) a search in `path` with fresh objects."""
  reference = tmp_path / "uninterrupted"
  reference.mkdir()
  num_writes = _count_writes(lambda: search(reference))
  expected = _what_a_run_left(reference)
  for k in _kill_points(num_writes, seed):
    path = tmp_path / f"killed-{k}"
    path.mkdir()
    atomic_files.set_write_hook(_kill_before_write(k))
    try:
      with pytest.raises(Killed):
        search(path)
    finally:
      atomic_files.set_write_hook(None)
    search(path)
    assert _what_a_run_left(path) == expected, f"killed before write {k}"


# ---------------------------------------------------------------- NAS
def _reusable(strategy):
  """``fresh()`` puts `strategy` back in its initial state.

  The controller's optimizer is built first (zero slots, as its first update
  builds them) so that the initial state names every slot.
  """
  learner = getattr(strategy, "learner", None)
  if learner is not None and not learner.optimizer.built:
    learner.optimizer.build(strategy.controller.trainable_variables)
  initial = strategy.state()
  return lambda: strategy.load_state(initial) or strategy


@pytest.fixture(scope="module", name="nas_search")
def fixture_nas_search():
  """search(path, log): 3 updates of 4 stand-in NAS children
  (`test_loop_from_scratch.CountingTask`: no training), REINFORCE."""
  task = scratch_tests.CountingTask()
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(tasks, "make_task", lambda: task)
    gin.clear_config()
    gin.parse_config("make_strategy.lstm_size = 8\n"
                     "make_strategy.lstm_num_layers = 1")
    fresh = _reusable(strategy_lib.make_strategy(task.space, 0))

    def search(path, log=lambda _: None):
      path.mkdir(exist_ok=True)
      return loop.run_search(
          run_dir_lib.RunDir(str(path)), fresh(), from_scratch.FromScratch(""),
          loop.SearchBudget(rounds=3, samples_per_update=4), 0, log=log)

    yield search
    gin.clear_config()


def test_nas_killed_at_random_writes_resumes_to_the_same_run(tmp_path,
                                                             nas_search):
  _check_every_kill_point_resumes_to_the_same_run(nas_search, tmp_path,
                                                  seed=1)


# ---------------------------------------------------------- ENAS image
IMAGE_GIN = """
import enas.macro.supergraph
macro_space.num_layers = 2
MacroSupergraph.out_filters = 4
make_strategy.lstm_size = 8
make_strategy.lstm_num_layers = 1
"""


@pytest.fixture(scope="module", name="image_search")
def fixture_image_search():
  """search(path): a 2-epoch ENAS macro search on digits, fresh objects each
  call except the supergraph, reset to its initial weights."""
  from enas.image import shared_weights  # pylint: disable=g-import-not-at-top
  gin.clear_config()
  gin.parse_config(IMAGE_GIN)
  config = shared_weights.EnasConfig(
      space="macro", dataset="digits", num_valid=64, max_train=64, batch_size=32,
      eval_batch_size=32, max_steps_per_epoch=1, augment=False,
      derive_samples=1)
  first = shared_weights.ImageSharedWeights(config, seed=0)
  initial = checkpoint.variables_state(first.model.checkpoint_variables())
  budget = loop.SearchBudget(rounds=2, updates_per_round=1,
                             samples_per_update=1)
  fresh_strategy = _reusable(strategy_lib.make_strategy(first.space, 0))

  def search(path):
    checkpoint.restore_variables(first.model.checkpoint_variables(), initial)
    evaluator = shared_weights.ImageSharedWeights(config, seed=0,
                                                  data=first.data,
                                                  model=first.model)
    strategy = fresh_strategy()
    return loop.run_search(run_dir_lib.RunDir(str(path)), strategy, evaluator,
                           budget, seed=0, log=lambda _: None)

  yield search
  gin.clear_config()


def test_enas_image_killed_at_random_writes_resumes_to_the_same_run(
    tmp_path, image_search):
  _check_every_kill_point_resumes_to_the_same_run(image_search, tmp_path,
                                                  seed=2)


# ------------------------------------------------------------ ENAS PTB
@pytest.fixture(scope="module", name="ptb_search")
def fixture_ptb_search(tmp_path_factory):
  """search(path): a 2-epoch ENAS PTB search on a tiny corpus (as above)."""
  from child import datasets  # pylint: disable=g-import-not-at-top
  from enas.recurrent import shared_weights  # pylint: disable=g-import-not-at-top
  corpus_dir = rnn_tests._write_corpus(tmp_path_factory.mktemp("ptb"))  # pylint: disable=protected-access
  gin.clear_config()
  gin.parse_config(rnn_tests.IMPORTS
                   + rnn_tests.GIN.replace("hidden_size = 16", "hidden_size = 8"))
  config = shared_weights.EnasRnnConfig(
      num_nodes=3, data_dir=corpus_dir, batch_size=4, bptt=5,
      eval_batch_size=4, eval_bptt=5, max_steps_per_epoch=1, derive_samples=1)
  corpus = datasets.load_ptb(corpus_dir)
  first = shared_weights.RecurrentSharedWeights(config, seed=0, corpus=corpus)
  initial = checkpoint.variables_state(first.model.checkpoint_variables())
  budget = loop.SearchBudget(rounds=2, updates_per_round=1,
                             samples_per_update=1)
  fresh_strategy = _reusable(strategy_lib.make_strategy(first.space, 0))

  def search(path):
    checkpoint.restore_variables(first.model.checkpoint_variables(), initial)
    evaluator = shared_weights.RecurrentSharedWeights(
        config, seed=0, corpus=corpus, model=first.model)
    strategy = fresh_strategy()
    return loop.run_search(run_dir_lib.RunDir(str(path)), strategy, evaluator,
                           budget, seed=0, log=lambda _: None)

  yield search
  gin.clear_config()


def test_enas_ptb_killed_at_random_writes_resumes_to_the_same_run(
    tmp_path, ptb_search):
  _check_every_kill_point_resumes_to_the_same_run(ptb_search, tmp_path,
                                                  seed=3)


# ------------------------------------------------- corrupt commit points
def _flip_a_byte(path):
  data = bytearray(path.read_bytes())
  data[len(data) // 2] ^= 0xFF
  path.write_bytes(bytes(data))


CORRUPTIONS = {
    "state.json torn": lambda d: (d / "state.json").write_text(
        (d / "state.json").read_text()[:40]),
    "state.json edited": lambda d: (d / "state.json").write_text(
        (d / "state.json").read_text().replace('"round": 1', '"round": 0')),
    "npz bit flip": lambda d: _flip_a_byte(
        d / json.loads((d / "state.json").read_text())["npz"]),
    "npz missing": lambda d: os.remove(
        d / json.loads((d / "state.json").read_text())["npz"]),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupt_last_commit_falls_back_to_the_one_before(
    tmp_path, nas_search, corruption):
  reference = tmp_path / "uninterrupted"
  nas_search(reference)
  path = tmp_path / "killed"
  with pytest.raises(scratch_tests.Killed):   # killed in update 2
    nas_search(path, log=scratch_tests.kill_after(10))
  CORRUPTIONS[corruption](path)
  with open(path / "rounds.jsonl", "a") as f:
    f.write('{"round": 2, "evalu')             # and a torn log line
  lines = []
  nas_search(path, log=lines.append)
  assert lines[0].startswith("warning: ") and lines[0].endswith(
      "falling back to the previous commit point (step 0)"), lines[0]
  assert lines[1] == "resuming after update 0"
  assert _what_a_run_left(path) == _what_a_run_left(reference)


def test_both_commits_corrupt_is_one_error_line(tmp_path, nas_search):
  with pytest.raises(scratch_tests.Killed):
    nas_search(tmp_path, log=scratch_tests.kill_after(10))
  for name in ("state.json", "state.previous.json"):
    (tmp_path / name).write_text("{")
  with pytest.raises(run_dir_lib.RunDirError, match="--overwrite"):
    nas_search(tmp_path, log=lambda _: None)


def test_a_first_commit_that_is_corrupt_restarts_the_run(tmp_path, nas_search):
  reference = tmp_path / "uninterrupted"
  nas_search(reference)
  path = tmp_path / "killed"
  with pytest.raises(scratch_tests.Killed):   # killed in update 1
    nas_search(path, log=scratch_tests.kill_after(6))
  _flip_a_byte(path / "state-0.npz")
  lines = []
  nas_search(path, log=lines.append)
  assert "starting from the beginning" in lines[0]
  assert _what_a_run_left(path) == _what_a_run_left(reference)


def test_nothing_in_a_run_directory_is_unpickled(tmp_path, nas_search):
  """A state npz holding a pickled object array is refused, not loaded."""
  with pytest.raises(scratch_tests.Killed):
    nas_search(tmp_path, log=scratch_tests.kill_after(6))
  run = run_dir_lib.RunDir(str(tmp_path))
  run.save_state(5, {"x": np.array([object()], dtype=object)},
                 {"kind": "nas", "round": 5})
  lines = []
  assert run.load_state(lines.append)[0]["step"] == 0
  assert "state-5.npz is unreadable" in lines[0]


# ------------------------------------------------------- final training
def _without_seconds(outcome):
  return {k: v for k, v in outcome.to_record().items() if k != "seconds"}


def _check_final_training_resumes_to_the_same_result(train, tmp_path,
                                                     epochs=None):
  """train(output_dir) -> Outcome; killed in its last epoch (just before
  that epoch's checkpoint), then started again on the same directory."""
  expected = _without_seconds(train(str(tmp_path / "uninterrupted")))
  assert expected["status"] == "ok", expected["error"]
  last = (epochs or len(expected.get("train_losses")
                        or expected["valid_accuracies"])) - 1

  def kill_in_the_last_epoch(index, path):
    del index
    if os.path.basename(path) == f"final_checkpoint-{last}.npz":
      raise Killed(path)

  killed = str(tmp_path / "killed")
  atomic_files.set_write_hook(kill_in_the_last_epoch)
  try:
    with pytest.raises(Killed):
      train(killed)
  finally:
    atomic_files.set_write_hook(None)
  assert _without_seconds(train(killed)) == expected


def test_final_image_training_killed_after_an_epoch_resumes_to_the_same_result(
    tmp_path):
  from enas.image import final_training  # pylint: disable=g-import-not-at-top
  from enas.micro import space as micro_space  # pylint: disable=g-import-not-at-top
  # Dropout, drop path, crop, flip and cutout: every random stream in use.
  config = final_training.FinalTrainingConfig(
      space="micro", dataset="digits", num_valid=20, max_train=32,
      max_test=20, batch_size=32, epochs=2, num_layers=1, out_filters=4,
      aux_weight=0.0, augment=True, cutout_size=2, keep_prob=0.5,
      drop_path_keep_prob=0.5)
  _check_final_training_resumes_to_the_same_result(
      lambda out: final_training.train_final_image(
          micro_space.PAPER_MICRO_ARC, config, seed=0, output_dir=out),
      tmp_path)


def test_final_ptb_training_killed_after_an_epoch_resumes_to_the_same_result(
    tmp_path, monkeypatch):
  import dataclasses  # pylint: disable=g-import-not-at-top
  from enas.recurrent import final_training  # pylint: disable=g-import-not-at-top
  import test_rnn_final  # pylint: disable=g-import-not-at-top
  # Averaging from the first epoch on: its running mean is state too.
  monkeypatch.setattr(final_training, "should_start_averaging",
                      lambda *args: True)
  config = dataclasses.replace(test_rnn_final.TINY, epochs=2,
                               max_steps_per_epoch=3, max_eval_tokens=100,
                               asgd=True)
  corpus = test_rnn_final._corpus()  # pylint: disable=protected-access
  _check_final_training_resumes_to_the_same_result(
      lambda out: final_training.train_final_rnn(
          "paper_enas_cell", config, seed=0, output_dir=out, corpus=corpus),
      tmp_path)


def test_final_nas_cnn_training_killed_after_an_epoch_resumes_to_the_same_result(
    tmp_path):
  from child.nas_cnn import trainer  # pylint: disable=g-import-not-at-top
  import test_child_trainer  # pylint: disable=g-import-not-at-top
  # Dropout and augmentation on: the random streams a resume must carry.
  config = trainer.ChildTrainerConfig(epochs=2, batch_size=64, dropout=0.5,
                                      augment=True)
  data = test_child_trainer.tiny_dataset(num_train=64, num_valid=32)
  _check_final_training_resumes_to_the_same_result(
      lambda out: trainer.train_child(test_child_trainer.LAYERS, data, config,
                                      seed=0, save_model_to=out),
      tmp_path)


def test_final_nas_lm_training_killed_after_an_epoch_resumes_to_the_same_result(
    tmp_path):
  from child.nas_tree_cell import language_model  # pylint: disable=g-import-not-at-top
  import test_rnn_final  # pylint: disable=g-import-not-at-top
  config = language_model.LanguageModelConfig(
      embedding_size=8, hidden_size=8, num_layers=1, batch_size=4, bptt=5,
      epochs=2, max_steps_per_epoch=3, max_eval_tokens=60, input_dropout=0.3,
      output_dropout=0.3, evaluate_test=True)
  corpus = test_rnn_final._corpus()  # pylint: disable=protected-access
  _check_final_training_resumes_to_the_same_result(
      lambda out: language_model.train_language_model(
          "lstm", corpus, config, seed=0, export_dir=out),
      tmp_path, epochs=2)


# -------------------------------------------------- one real kill -9
def test_the_binary_killed_by_sigkill_resumes_to_the_same_run(tmp_path):
  bindings = ["make_strategy.kind = 'random'"]
  reference = tmp_path / "uninterrupted"
  assert test_binaries.search(reference, *bindings).returncode == 0
  killed = tmp_path / "killed"
  os.environ[atomic_files.KILL_ENV] = "7"   # mid-round 1 (of 2)
  try:
    result = test_binaries.search(killed, *bindings)
  finally:
    del os.environ[atomic_files.KILL_ENV]
  assert result.returncode == -signal.SIGKILL, result.stderr
  assert not (killed / "best.json").exists()
  args = ["--gin_file=gin/nas/quickstart.gin", f"--output_dir={killed}",
          "--resume"] + [f"--gin_bindings={b}" for b in
                         (*test_binaries.DIGITS, *bindings)]
  result = test_binaries.run("experiments.search", *args)
  assert result.returncode == 0, result.stderr
  assert _what_a_run_left(killed) == _what_a_run_left(reference)
  shutil.rmtree(tmp_path)
