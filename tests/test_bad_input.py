"""Bad input anywhere is one clear line, never a traceback (property-based).

In-process, with `hypothesis`: every family's architecture parser (through
its task, as the binaries parse ``--arc``) answers any text with an
architecture or an `ArchitectureError` of one line; every config dataclass
answers a value of the wrong type or out of range with one `ConfigError`
line naming the setting. Then a few binary invocations (each a subprocess:
a TensorFlow import) for the errors only a binary meets: a bad gin value,
an unwritable output directory, a full disk at a write, a corrupt resume.
"""

import dataclasses
import errno

import gin
import pytest
from hypothesis import given, settings, strategies as st

from controller import errors
from controller import search_space as ss
from controller import strategy as strategy_lib
from experiments import cli
from runner import loop
import test_binaries

# Derandomized: CI runs the same examples every time (a failure reproduces).
FEW = settings(max_examples=40, deadline=None, derandomize=True)


# -------------------------------------------------------- architectures
def _parsers():
  """family -> (parse(text), a valid architecture string): every task's."""
  from child.nas_cnn import task as nas_cnn_task  # pylint: disable=g-import-not-at-top
  from child.nas_tree_cell import task as tree_task  # pylint: disable=g-import-not-at-top
  from enas.image import final_training as image_final  # pylint: disable=g-import-not-at-top
  from enas.recurrent import final_training as rnn_final  # pylint: disable=g-import-not-at-top
  from enas.recurrent import space as rnn_space  # pylint: disable=g-import-not-at-top
  from enas.image import spaces  # pylint: disable=g-import-not-at-top
  gin.clear_config()
  nas = nas_cnn_task.ImageClassificationTask()
  tree = tree_task.LanguageModelTask()
  macro = image_final.FinalTrainingConfig(space="macro")
  micro = image_final.FinalTrainingConfig(space="micro")

  def sample(space):
    return strategy_lib.RandomSearch(space, seed=0).ask(1)[0].arc.to_string()

  return {
      "nas_cnn": (nas.parse, sample(nas.space)),
      "nas_tree_cell": (tree.parse, sample(tree.space)),
      "enas_macro": (lambda t: image_final.parse_arc(t, macro),
                     sample(spaces.macro_space(num_layers=4))),
      "enas_micro": (lambda t: image_final.parse_arc(t, micro),
                     sample(spaces.micro_space(num_nodes=3))),
      "enas_rnn": (rnn_final.parse_arc, sample(rnn_space.rnn_cell_space(4))),
  }


PARSERS = _parsers()
FAMILIES = sorted(PARSERS)


def _parses_or_one_line_error(parse, text):
  try:
    arc = parse(text)
  except ss.ArchitectureError as e:
    message = str(e).strip()
    assert message and "\n" not in message, repr(message)
    return None
  if isinstance(arc, ss.Architecture):
    assert parse(arc.to_string()).to_string() == arc.to_string()
  return arc


def _mutations(valid):
  """Texts near a valid string: a token changed, dropped, added, or junk."""
  words = valid.split()
  return st.one_of(
      st.tuples(st.integers(0, len(words) - 1),
                st.integers(-10**12, 10**12)).map(
                    lambda p: " ".join(words[:p[0]] + [str(p[1])]
                                       + words[p[0] + 1:])),
      st.integers(0, len(words) - 1).map(
          lambda i: " ".join(words[:i] + words[i + 1:])),
      st.integers(0, 99).map(lambda t: f"{valid} {t}"),
      st.text(max_size=40).map(lambda junk: valid + junk),
  )


@pytest.mark.parametrize("family", FAMILIES)
@FEW
@given(data=st.data())
def test_any_text_is_an_architecture_or_one_architecture_error(family, data):
  parse, valid = PARSERS[family]
  text = data.draw(st.one_of(
      st.text(max_size=60),
      st.lists(st.integers(-3, 30), max_size=120).map(
          lambda xs: " ".join(map(str, xs))),
      _mutations(valid)))
  _parses_or_one_line_error(parse, text)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_familys_valid_string_parses(family):
  parse, valid = PARSERS[family]
  assert _parses_or_one_line_error(parse, valid) is not None


# -------------------------------------------------------------- configs
def _configs():
  from child.nas_cnn import trainer  # pylint: disable=g-import-not-at-top
  from child.nas_tree_cell import language_model  # pylint: disable=g-import-not-at-top
  from enas.image import final_training as image_final  # pylint: disable=g-import-not-at-top
  from enas.image import shared_weights as image_search  # pylint: disable=g-import-not-at-top
  from enas.recurrent import final_training as rnn_final  # pylint: disable=g-import-not-at-top
  from enas.recurrent import shared_weights as rnn_search  # pylint: disable=g-import-not-at-top
  return [image_search.EnasConfig, rnn_search.EnasRnnConfig,
          image_final.FinalTrainingConfig, rnn_final.RnnFinalConfig,
          trainer.ChildTrainerConfig, language_model.LanguageModelConfig,
          loop.SearchBudget]


CONFIGS = {cls.__name__: cls for cls in _configs()}
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.lists(st.integers(), max_size=3), st.just(float("nan")))


@pytest.mark.parametrize("name", sorted(CONFIGS))
@FEW
@given(data=st.data())
def test_any_value_of_any_setting_is_accepted_or_one_config_error(name, data):
  cls = CONFIGS[name]
  field = data.draw(st.sampled_from([f.name for f in dataclasses.fields(cls)]))
  value = data.draw(ODD_VALUES)
  try:
    config = cls(**{field: value})
  except errors.ConfigError as e:
    # (gin appends where it called the class on later lines; the binaries
    # print the first.)
    assert str(e).splitlines()[0].startswith(f"{name}.{field} must be "), str(e)
    return
  # Accepted: the value has the field's type (a number where one is meant).
  default = getattr(cls(), field)
  if isinstance(default, (int, float)) and not isinstance(default, bool):
    assert isinstance(getattr(config, field), (int, float)), value


@pytest.mark.parametrize("name,field,value", [
    ("EnasConfig", "max_steps_per_epoch", "many"),
    ("FinalTrainingConfig", "epochs", -3),
    ("RnnFinalConfig", "epochs", "many"),
    ("ChildTrainerConfig", "epochs", 0),
    ("EnasRnnConfig", "derive_samples", 2.5),
    ("SearchBudget", "rounds", "many"),
])
def test_the_issues_examples_are_config_errors(name, field, value):
  with pytest.raises(errors.ConfigError, match=f"{name}.{field}"):
    CONFIGS[name](**{field: value})


# ------------------------------------------------ output errors in-process
def test_a_full_disk_at_a_write_is_one_line_and_keeps_what_was_written(
    tmp_path, monkeypatch, capsys):
  from child import atomic_files  # pylint: disable=g-import-not-at-top
  from runner import run_dir as run_dir_lib  # pylint: disable=g-import-not-at-top
  run = run_dir_lib.RunDir(str(tmp_path))
  run.append_child({"index": 0, "round": 0})

  def full(k, path):
    raise OSError(errno.ENOSPC, "No space left on device", path)

  atomic_files.set_write_hook(full)
  try:
    with pytest.raises(SystemExit) as exit_info, cli.user_errors():
      run.append_child({"index": 1, "round": 0})
  finally:
    atomic_files.set_write_hook(None)
  assert exit_info.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: ") and "space" in err[0]
  assert "--resume" in err[0]
  assert run.children() == [{"index": 0, "round": 0}]


@pytest.mark.parametrize("where", ["file/run", "/proc/no_such_dir/run"])
def test_an_output_directory_that_cannot_be_made_is_a_run_dir_error(
    tmp_path, where):
  from runner import run_dir as run_dir_lib  # pylint: disable=g-import-not-at-top
  (tmp_path / "file").write_text("")
  with pytest.raises(run_dir_lib.RunDirError, match="cannot create"):
    run_dir_lib.prepare(str(tmp_path / where), resume=False, overwrite=False)


def test_other_os_errors_are_not_hidden():
  with pytest.raises(OSError), cli.user_errors():
    raise OSError(errno.EIO, "Input/output error")


# ---------------------------------------------- children out of memory
def _out_of_memory():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return [MemoryError("cannot allocate"),
          tf.errors.ResourceExhaustedError(None, None, "OOM when allocating")]


@pytest.mark.parametrize("error", _out_of_memory(),
                         ids=lambda e: type(e).__name__)
def test_a_child_out_of_memory_is_a_failed_child_not_a_crash(error):
  from child import outcome  # pylint: disable=g-import-not-at-top

  def train(measured):
    measured["params"] = 7
    raise error

  result = outcome.run_guarded(train)
  assert result.status == outcome.FAILED and result.reward == 0.0
  assert result.error.startswith(type(error).__name__) and result.params == 7


# ------------------------------------------------------------- binaries
def test_bad_gin_value_is_one_line(tmp_path):
  result = test_binaries.search(tmp_path / "run",
                                "ChildTrainerConfig.epochs = 'many'")
  test_binaries.assert_one_line_error(result, "ChildTrainerConfig.epochs")
  assert not (tmp_path / "run").exists()


def test_an_unwritable_output_directory_is_one_line(tmp_path):
  (tmp_path / "file").write_text("")
  result = test_binaries.search(tmp_path / "file" / "run")
  test_binaries.assert_one_line_error(result, "cannot create output directory")
