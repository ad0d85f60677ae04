"""The binaries as a user meets them: one-line errors, exit code 2, real runs."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DIGITS = [
    "ImageClassificationTask.dataset = 'digits'",
    "ImageClassificationTask.num_valid = 200",
    "ImageClassificationTask.max_train = 400",
    "nas_cnn_space.num_layers = 2",
    "nas_cnn_space.num_filters = (4, 8)",
    "ChildTrainerConfig.epochs = 1",
    "ChildTrainerConfig.batch_size = 50",
    "SearchBudget.rounds = 2",
    "SearchBudget.samples_per_update = 2",
]


def run(module, *args, home=None):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  if home:
    env["HOME"] = str(home)
  return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO,
                        env=env, capture_output=True, text=True, timeout=300)


def search(output_dir, *bindings, home=None):
  args = ["--gin_file=gin/nas/quickstart.gin", f"--output_dir={output_dir}"]
  args += [f"--gin_bindings={b}" for b in (*DIGITS, *bindings)]
  return run("experiments.search", *args, home=home)


def assert_one_line_error(result, text):
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith("error: ") and text in lines[0]


def test_an_unknown_gin_binding_is_one_line_and_exit_2(tmp_path):
  result = search(tmp_path / "run", "no_such_thing.value = 1")
  assert_one_line_error(result, "no_such_thing")
  assert not (tmp_path / "run").exists()


def test_an_existing_output_directory_is_not_overwritten(tmp_path):
  (tmp_path / "run").mkdir()
  (tmp_path / "run" / "best.json").write_text('{"arc": "kept"}')
  result = search(tmp_path / "run")
  assert_one_line_error(result, "--resume")
  assert (tmp_path / "run" / "best.json").read_text() == '{"arc": "kept"}'


def test_a_missing_data_set_names_where_it_looked(tmp_path):
  result = search(tmp_path / "run", "ImageClassificationTask.dataset = 'cifar10'",
                  home=tmp_path)   # an empty HOME: no Keras cache
  assert_one_line_error(result, "cifar-10-batches-py")
  assert not (tmp_path / "run").exists()


def test_unusable_own_labels_are_one_line_naming_the_fault(tmp_path):
  import numpy as np  # pylint: disable=g-import-not-at-top
  np.savez(tmp_path / "mine.npz", x_train=np.zeros((20, 8, 8), np.uint8),
           y_train=np.arange(20) % 2, x_test=np.zeros((4, 8, 8)), y_test=[0, 1, 2, 1])
  result = search(tmp_path / "run", "ImageClassificationTask.dataset = 'npz'",
                  f"ImageClassificationTask.data_dir = '{tmp_path / 'mine.npz'}'",
                  "ImageClassificationTask.num_valid = 4")
  assert_one_line_error(result, "mine.npz: y_test has label 2 outside the classes of y_train")
  assert not (tmp_path / "run").exists()


def test_a_malformed_arc_string_names_the_bad_position(tmp_path):
  result = run("experiments.train_final", "--gin_file=gin/nas/quickstart.gin",
               "--arc=1 2 x", f"--output_dir={tmp_path / 'final'}")
  assert_one_line_error(result, "position 2")


def test_a_real_search_records_every_child_and_the_best(tmp_path):
  result = search(tmp_path / "run", "Retrain.enabled = True")
  assert result.returncode == 0, result.stderr
  assert result.stdout.startswith("devices: ")
  assert "best architecture (nas_cnn):" in result.stdout
  assert "score (search-phase, trained from scratch): reward" in result.stdout
  records = [json.loads(line) for line in
             (tmp_path / "run" / "architectures.jsonl").read_text().splitlines()]
  assert sorted(r["index"] for r in records) == [0, 1, 2, 3]
  assert all(r["status"] == "ok" and 0 < r["reward"] <= 1 for r in records)
  best = json.loads((tmp_path / "run" / "best.json").read_text())
  assert best["reward"] == max(r["reward"] for r in records)
  assert (tmp_path / "run" / "operative_config.gin").exists()
  # Retrained with the search's own configuration (the NAS task).
  retrained = json.loads(
      (tmp_path / "run" / "retrained" / "result.json").read_text())
  assert retrained["arc"] == best["arc"] and retrained["status"] == "ok"
  assert retrained["phase"] == "retrained_from_scratch"
  assert 0 <= retrained["test_accuracy"] <= 1
  assert (f"retrain again: python3 -m experiments.train_final "
          f"--gin_file={tmp_path / 'run' / 'operative_config.gin'} "
          f"--arc_file={tmp_path / 'run' / 'best.json'}") in result.stdout


def test_children_whose_loss_turns_nan_are_failed_and_the_search_goes_on(
    tmp_path):
  result = search(tmp_path / "run", "ChildTrainerConfig.learning_rate = 1e30")
  assert result.returncode == 0, result.stderr
  records = [json.loads(line) for line in
             (tmp_path / "run" / "architectures.jsonl").read_text().splitlines()]
  assert len(records) == 4
  assert all(r["status"] == "failed" and r["reward"] == 0.0 for r in records)
  assert "non-finite" in records[0]["error"]


def test_a_language_model_search_and_final_training_run_on_local_ptb_files(
    tmp_path):
  words = "the cat sat on a mat and the dog ran to the cat".split()
  rng = __import__("random").Random(0)
  data = tmp_path / "ptb"
  data.mkdir()
  for split, lines in (("train", 200), ("valid", 20), ("test", 20)):
    text = "\n".join(" ".join(rng.choice(words) for _ in range(8))
                     for _ in range(lines))
    (data / f"ptb.{split}.txt").write_text(text + "\n")
  bindings = [f"LanguageModelTask.data_dir = '{data}'",
              "LanguageModelTask.base = 2",
              "LanguageModelConfig.embedding_size = 8",
              "LanguageModelConfig.hidden_size = 8",
              "LanguageModelConfig.max_steps_per_epoch = 5",
              "LanguageModelConfig.max_eval_tokens = 200",
              "SearchBudget.rounds = 1",
              "SearchBudget.samples_per_update = 2"]
  args = ["--gin_file=gin/nas/ptb_cpu.gin"] + [f"--gin_bindings={b}"
                                               for b in bindings]
  result = run("experiments.search", *args, f"--output_dir={tmp_path / 'run'}")
  assert result.returncode == 0, result.stderr
  assert "valid_ppl" in result.stdout
  best = json.loads((tmp_path / "run" / "best.json").read_text())
  assert best["space"] == "nas_rnn_cell_base2" and best["valid_ppl"] > 1
  final = run("experiments.train_final", *args, "--arc=lstm",
              f"--output_dir={tmp_path / 'lstm'}")
  assert final.returncode == 0, final.stderr
  scores = json.loads(final.stdout.strip().splitlines()[-1])
  assert scores["status"] == "ok" and scores["test_ppl"] > 1


def test_the_readme_quickstart_searches_then_retrains_the_derived_cell(
    tmp_path):
  shrink = ["EnasConfig.dataset = 'digits'", "EnasConfig.num_valid = 200",
            "EnasConfig.max_train = 400", "SearchBudget.rounds = 2",
            "EnasConfig.max_steps_per_epoch = 3",
            "SearchBudget.updates_per_round = 2",
            "SearchBudget.samples_per_update = 2",
            "EnasConfig.derive_samples = 3",
            "Retrain.gin_bindings = [\"FinalTrainingConfig.dataset = 'digits'\", "
            "'FinalTrainingConfig.num_valid = 0', "
            "'FinalTrainingConfig.max_train = 128', "
            "'FinalTrainingConfig.max_test = 64', "
            "'FinalTrainingConfig.epochs = 1', "
            "'FinalTrainingConfig.num_layers = 1', "
            "'FinalTrainingConfig.out_filters = 4']"]
  result = run("experiments.search", "--gin_file=gin/quickstart.gin",
               f"--output_dir={tmp_path / 'run'}",
               *[f"--gin_bindings={b}" for b in shrink])
  assert result.returncode == 0, result.stderr
  assert result.stdout.startswith("devices: ")
  assert "best architecture (enas_micro):" in result.stdout
  assert "score (search-phase, shared weights): reward" in result.stdout
  assert "normal cell:" in result.stdout and "reduction cell:" in result.stdout
  epochs = (tmp_path / "run" / "rounds.jsonl").read_text().splitlines()
  assert len(epochs) == 2
  best = json.loads((tmp_path / "run" / "best.json").read_text())
  assert best["valid_accuracy"] == max(c["valid_accuracy"]
                                       for c in best["candidates"])
  # The derived cell retrained from scratch (ENAS final training) and tested.
  retrained = json.loads(
      (tmp_path / "run" / "retrained" / "result.json").read_text())
  assert retrained["arc"] == best["arc"] and retrained["status"] == "ok"
  assert retrained["phase"] == "retrained_from_scratch"
  assert retrained["space"] == best["space"]
  assert f"test_acc {retrained['test_accuracy']:.4f}" in result.stdout
  assert (tmp_path / "run" / "retrained" / "model.weights.h5").exists()
  assert ("longer retraining: python3 -m experiments.train_final "
          "--gin_file=gin/enas/fashion_mnist_final_long_cpu.gin "
          f"--arc_file={tmp_path / 'run' / 'best.json'}") in result.stdout


def test_an_unusable_setting_is_one_line_and_leaves_no_run_behind(tmp_path):
  result = run("experiments.search", "--gin_file=gin/quickstart.gin",
               f"--output_dir={tmp_path / 'run'}",
               "--gin_bindings=EnasConfig.derive_on = 'best'")
  assert_one_line_error(result, "EnasConfig.derive_on")
  assert not (tmp_path / "run").exists()


def test_compare_trains_every_architecture_with_every_seed(tmp_path):
  nas_child = [f"--gin_bindings={b}" for b in DIGITS]
  result = run("experiments.compare", "--gin_file=gin/nas/quickstart.gin",
               *nas_child, "--arc=1 1 0 0 2 2 1 0 0", "--num_random=1",
               "--seeds=0,1", f"--output_dir={tmp_path / 'cmp'}")
  assert result.returncode == 0, result.stderr
  results = json.loads(result.stdout.strip().splitlines()[-1])["results"]
  assert sorted((r["name"], r["seed"]) for r in results) == [
      ("1 1 0 0 2 2 1 0 0", 0), ("1 1 0 0 2 2 1 0 0", 1),
      ("random 0", 0), ("random 0", 1)]
  assert all(r["status"] == "ok" and 0 <= r["test_accuracy"] <= 1
             for r in results)
