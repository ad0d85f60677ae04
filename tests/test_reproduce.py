"""The reproduction tables: a row per system, published numbers beside ours, seeds aggregated, resume.

Most tests drive the table plumbing with a fake cell runner (no training);
one runs a real search + retraining cell on a tiny budget, one counts a
published architecture for real, and one runs the binary for its
paper-scale guard.
"""

import json
import os
import statistics

import pytest

from experiments.reproduce import cells as cells_lib
from experiments.reproduce import results as results_lib
from experiments.reproduce import tables
from runner.reproduce import render
from runner.reproduce import stats
from runner.reproduce import table as table_lib
import test_binaries

SEARCH_TABLES = ["nas_cifar10", "nas_ptb", "enas_cifar10", "enas_ptb"]


def _fake_runner(calls):
  """A cell runner that trains nothing: scores depend on the system and seed."""
  def run(cell, path):
    calls.append(cell.key)
    base = 0.5 + 0.01 * len(cell.system.name) + 0.003 * cell.seed
    search = None
    if cell.system.search is not None:
      scratch = cell.system.role == "RS" or cell.system.name.startswith("NAS")
      search = {"id": cell.system.search.id, "dir": path, "arc": "1 2 3",
                "phase": "from_scratch" if scratch else "shared_weights",
                "derived_on": "validation", "reward": base, "score_key": "valid_accuracy", "score": base,
                "params": 10, "evaluations": 5 if scratch else 50, "children_from_scratch": 5 if scratch else 0,
                "rounds": 1,
                "seconds": 60.0 + cell.seed, "cpu_seconds": 100.0 if scratch else 50.0,
                "command": f"search {path}"}
    retrained = {"status": "ok", "test_accuracy": base + 0.1, "valid_accuracy": base, "test_ppl": 100 * base,
                 "valid_ppl": 110 * base, "params": 1000, "seconds": 5.0, "command": f"train {path}"}
    if cell.arch is not None:
      return {"arc": f"arc {cell.arch}", "retrained": dict(retrained, test_accuracy=0.1 * cell.arch)}
    if cell.system.name.endswith("supergraph"):
      return {"search": search, "ranking": {"arcs": ["a", "b", "c"], "score_key": "valid_accuracy",
                                            "phase": "shared_weights", "derived_on": "validation",
                                            "shared_weight": [0.3, 0.1, 0.2]}}
    return {"arc": "1 2 3", "search": search, "retrained": retrained}
  return run


def _build(name, tmp_path, seeds=(0, 1, 2), calls=None):
  table = tables.get(name)
  cells = table_lib.cells_of(table, seeds, table.ranking_archs.get("cpu", 0))
  results = table_lib.run_cells(cells, str(tmp_path), _fake_runner([] if calls is None else calls),
                                log=lambda _: None)
  return table, render.build(table, "cpu", seeds, results, dataset="Fashion-MNIST", date="today",
                             reproduce_command="cmd")


@pytest.mark.parametrize("name", SEARCH_TABLES)
def test_a_search_table_has_a_row_per_system_with_the_papers_and_reproductions(name, tmp_path):
  table, data = _build(name, tmp_path)
  assert [r["system"] for r in data["rows"]] == [s.name for s in table.systems]
  text = render.markdown(data)
  for system in table.systems:
    line = next(line for line in text.splitlines() if line.startswith(f"| {system.name} |"))
    if system.paper:
      assert system.paper.text in line
    for number in system.reproductions:
      assert number.text in line and number.source in line
  roles = {s.role for s in table.systems}
  assert "RS" in roles, "every search table has random search from scratch"
  if name.startswith("enas"):
    assert "RS-WS" in roles


@pytest.mark.parametrize("name", SEARCH_TABLES)
def test_every_published_number_says_where_it_is_from_and_whether_it_was_verified(name):
  for system in tables.get(name).systems:
    for number in (system.paper, *system.reproductions):
      if number is not None:
        assert number.source and isinstance(number.verified, bool)


def test_the_seeds_are_aggregated_as_mean_and_sample_std(tmp_path):
  _, data = _build("enas_ptb", tmp_path)
  enas = next(r for r in data["rows"] if r["system"] == "ENAS")
  values = [100 * (0.5 + 0.01 * len("ENAS") + 0.003 * s) for s in (0, 1, 2)]
  assert enas["retrained"]["n"] == 3
  assert enas["retrained"]["mean"] == pytest.approx(statistics.mean(values))
  assert enas["retrained"]["std"] == pytest.approx(statistics.stdev(values))
  assert enas["status"] == "measured"
  assert f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f} (n=3)" in render.markdown(data)
  # the search-phase score is its own labelled column
  assert enas["search_phase"]["phase"] == "shared_weights"


def test_search_phase_and_retrained_scores_stay_in_separate_columns(tmp_path):
  _, data = _build("enas_cifar10", tmp_path, seeds=(0,))
  header = next(line for line in render.markdown(data).splitlines() if line.startswith("| system |"))
  assert "ours, search phase" in header and "ours, retrained from scratch: test accuracy" in header


def test_a_finished_cell_is_never_run_again_and_an_interrupted_one_is_resumed(tmp_path):
  table = tables.get("enas_ptb")
  cells = table_lib.cells_of(table, [0, 1])
  first = []
  table_lib.run_cells(cells, str(tmp_path), _fake_runner(first), log=lambda _: None)
  assert sorted(first) == sorted(c.key for c in cells)
  again, lines = [], []
  table_lib.run_cells(cells, str(tmp_path), _fake_runner(again), log=lines.append)
  assert not again and all("skipped" in line for line in lines)
  # an interrupted cell: its directory holds a partial run but no result
  interrupted = table_lib.cell_dir(str(tmp_path), cells[2])
  os.remove(os.path.join(interrupted, table_lib.RESULT))
  with open(os.path.join(interrupted, "architectures.jsonl"), "w") as f:
    f.write("{}\n")
  third, lines = [], []
  results = table_lib.run_cells(cells, str(tmp_path), _fake_runner(third), log=lines.append)
  assert third == [cells[2].key] and len(results) == len(cells)
  assert any("resuming" in line for line in lines)


def test_systems_can_be_chosen_and_unknown_ones_are_named():
  table = tables.get("enas_ptb")
  cells = table_lib.cells_of(table, [0], systems=["lstm", "ENAS"])
  assert {c.system.name for c in cells} == {"LSTM", "ENAS"}
  with pytest.raises(KeyError, match="nope"):
    table_lib.cells_of(table, [0], systems=["nope"])


def test_kendall_tau_counts_concordant_pairs():
  assert stats.kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
  assert stats.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
  assert stats.kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
  assert stats.kendall_tau([1, 1], [2, 3]) is None


def test_the_ranking_table_pairs_shared_weight_scores_with_retrained_ones(tmp_path):
  _, data = _build("ranking", tmp_path, seeds=(0, 1))
  ranking = data["ranking"]
  # fake: shared-weight scores 0.3, 0.1, 0.2; retrained 0.1 * index for the first 3 of 10 archs
  assert [s["pairs"] for s in ranking["per_seed"]] == [3, 3]
  assert ranking["kendall_tau"]["mean"] == pytest.approx(stats.kendall_tau([0.3, 0.1, 0.2], [0.0, 0.1, 0.2]))
  assert "Kendall's tau" in render.markdown(data)


def test_the_ranking_table_measures_each_score_against_itself_across_seeds(tmp_path):
  table = tables.get("ranking")
  arcs = ["a", "b", "c"]
  system = table.systems[0].name
  boards = [{"system": system, "seed": seed, "arch": None,
             "ranking": {"arcs": arcs, "score_key": "valid_accuracy", "shared_weight": shared}}
            for seed, shared in ((0, [0.1, 0.2, 0.3]), (1, [0.1, 0.3, 0.2]))]
  # seed 1's retraining reverses seed 0's order: tau -1 between the seeds
  trained = [{"system": system, "seed": seed, "arch": arch,
              "retrained": {"status": "ok", "test_accuracy": value}}
             for seed, values in ((0, [0.7, 0.8, 0.9]), (1, [0.9, 0.8, 0.7])) for arch, value in enumerate(values)]
  data = render.build(table, "cpu", [0, 1], boards + trained, dataset="d", date="d", reproduce_command="c")
  between = data["ranking"]["between_seeds"]
  assert between["retrained"]["mean"] == pytest.approx(-1.0)
  assert between["shared_weight"]["mean"] == pytest.approx(stats.kendall_tau([0.1, 0.2, 0.3], [0.1, 0.3, 0.2]))
  assert "two retrainings agree only this well" in render.markdown(data)
  os.makedirs(tmp_path / "ranking" / "cpu")
  (tmp_path / "ranking" / "cpu" / "table.json").write_text(json.dumps(data))
  claim = results_lib.verdict("shared_weights_rank", results_lib.load_tables(str(tmp_path)))
  assert claim.endswith("two retrainings with different seeds agree at tau -1.000")


def test_results_md_states_each_claim_or_not_measured_yet(tmp_path):
  _, data = _build("enas_ptb", tmp_path / "cells")
  os.makedirs(tmp_path / "root" / "enas_ptb" / "cpu")
  (tmp_path / "root" / "enas_ptb" / "cpu" / "table.json").write_text(json.dumps(data))
  text = results_lib.write(str(tmp_path / "root"), str(tmp_path / "RESULTS.md"))
  claims = [line for line in text.splitlines() if line.startswith("* **")]
  assert len(claims) == len(results_lib.CLAIMS)
  assert "not measured yet" in next(c for c in claims if "rank architectures" in c)
  assert "): not measured yet" not in next(c for c in claims if "random controls" in c)
  assert "*paper scale: not run*" in text
  assert (tmp_path / "RESULTS.md").read_text() == text


def test_a_claim_says_which_of_its_tables_it_rests_on_and_their_missing_seeds(tmp_path):
  _, data = _build("enas_ptb", tmp_path / "cells", seeds=(0, 1))
  os.makedirs(tmp_path / "root" / "enas_ptb" / "cpu")
  (tmp_path / "root" / "enas_ptb" / "cpu" / "table.json").write_text(json.dumps(data))
  claim = results_lib.verdict("enas_beats_random", results_lib.load_tables(str(tmp_path / "root")))
  assert claim.endswith("[enas_cifar10 not measured yet; enas_ptb on 2 of its 3 seeds so far]")


def test_search_cost_projects_nas_to_enas_evaluations_and_judges_the_claim(tmp_path):
  _, data = _build("search_cost", tmp_path / "cells", seeds=(0,))
  cost = data["cost"]
  # fake: both searches take 60 s; NAS evaluates 5 architectures, ENAS 50
  assert cost["ratio_per_evaluation"] == pytest.approx(10.0)
  assert cost["nas_projected_seconds"] == pytest.approx(600.0)
  # fake CPU time: NAS 100 s for 5 architectures, ENAS 50 s for 50
  assert cost["cpu_ratio_per_evaluation"] == pytest.approx(20.0)
  text = render.markdown(data)
  assert "device-hours" in text and "By CPU time" in text and "20x" in text
  os.makedirs(tmp_path / "root" / "search_cost" / "cpu")
  (tmp_path / "root" / "search_cost" / "cpu" / "table.json").write_text(json.dumps(data))
  claim = results_lib.verdict("enas_cheaper", results_lib.load_tables(str(tmp_path / "root")))
  assert claim.startswith("disagrees") and "10x" in claim and "by CPU time 20x" in claim


def test_the_params_table_builds_a_published_cell_at_paper_settings(tmp_path):
  table = tables.get("params")
  runner = cells_lib.CellRunner(table, "cpu", str(tmp_path))
  cells = table_lib.cells_of(table, [0], systems=["ENAS PTB cell"])
  [result] = table_lib.run_cells(cells, str(tmp_path), runner, log=lambda _: None)
  vocab, hidden, nodes = 10_000, 748, 12      # gin/enas/ptb_final.gin, tied softmax, no biases
  assert result["params"]["params"] == vocab * hidden + 4 * hidden**2 + (nodes - 1) * 2 * hidden**2
  data = render.build(table, "cpu", [0], [result], dataset="no data", date="d", reproduce_command="c")
  row = next(r for r in data["rows"] if r["system"] == "ENAS PTB cell")
  assert row["status"] == "measured" and row["paper"]["text"] == "24M"


def test_a_real_search_cell_searches_retrains_and_is_not_run_twice(tmp_path):
  table = tables.get("nas_cifar10")
  runner = cells_lib.CellRunner(table, "smoke", str(tmp_path), log=lambda _: None)
  cells = table_lib.cells_of(table, [0], systems=["rs_v1__no_stride_or_pooling"])
  [result] = table_lib.run_cells(cells, str(tmp_path), runner, log=lambda _: None)
  assert result["search"]["phase"] == "from_scratch"
  assert result["search"]["children_from_scratch"] == 2
  assert 0 < result["search"]["cpu_seconds"]
  assert result["retrained"]["status"] == "ok", result["retrained"]
  assert 0 <= result["retrained"]["test_accuracy"] <= 1
  assert os.path.exists(result["search"]["dir"] + ".json")
  calls = []
  table_lib.run_cells(cells, str(tmp_path), _fake_runner(calls), log=lambda _: None)
  assert not calls


def test_paper_scale_prints_the_device_hours_and_needs_yes(tmp_path):
  result = test_binaries.run("experiments.reproduce", "--table=enas_ptb", "--scale=paper",
                             f"--output_dir={tmp_path}")
  test_binaries.assert_one_line_error(result, "--yes")
  assert "expected device-hours" in result.stdout
  assert not (tmp_path / "enas_ptb" / "paper" / "cells").exists()


def test_cpu_image_tables_use_cifar10_only_with_a_directory_and_say_so():
  table = tables.get("enas_cifar10")
  search = table.system("ENAS micro").search
  assert cells_lib.data_bindings(search, "cpu", None) == ()
  assert "Fashion-MNIST" in cells_lib.dataset_note(table, "cpu", None)
  assert cells_lib.data_bindings(search, "cpu", "/data/c10") == (
      "EnasConfig.dataset = 'cifar10'", "EnasConfig.data_dir = '/data/c10'")
  assert cells_lib.dataset_note(table, "cpu", "/data/c10") == "CIFAR-10"
  ptb = tables.get("enas_ptb").system("ENAS").final
  assert cells_lib.data_bindings(ptb, "cpu", "/data/ptb") == ("RnnFinalConfig.data_dir = '/data/ptb'",)


def test_every_cpu_table_states_its_reductions_and_fits_two_hours():
  for table in tables.TABLES.values():
    assert table.reductions["cpu"] and table.reductions["paper"]
    assert 2 <= table.seeds["cpu"] or table.kind == "params"
    assert sum(s.cpu_minutes for s in table.systems) * table.seeds["cpu"] <= 120
