"""A run's summary: architectures ranked by reward, the Pareto front of score and size, plots."""

import json
import os
import subprocess
import sys

import pytest

from runner import summary
from runner import summary_plots

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def record(arc, reward, params=None, flops=None, step=0, status="ok", **more):
  out = dict(arc=arc, reward=reward, valid_accuracy=reward, params=params,
             status=status, round=step // 2, controller_step=step,
             phase="from_scratch", seconds=1.5, **more)
  if flops is not None:
    out["flops"] = flops
  return out


def write_run(path, records, rounds=(), best=None):
  path.mkdir(parents=True, exist_ok=True)
  (path / "architectures.jsonl").write_text(
      "".join(json.dumps(r) + "\n" for r in records) + '{"torn": ')
  (path / "rounds.jsonl").write_text(
      "".join(json.dumps(r) + "\n" for r in rounds))
  if best is not None:
    (path / "best.json").write_text(json.dumps(best))
  return str(path)


RECORDS = [
    record("a", 0.50, params=100, step=0),
    record("b", 0.70, params=300, step=0),
    record("c", 0.60, params=400, step=1),    # dominated by b
    record("d", 0.80, params=900, step=2),
    record("b", 0.65, params=300, step=2),    # b again, a lower reward
    record("e", 0.99, params=50, step=3, status="failed"),
    record("f", 0.40, params=100, step=3),    # dominated by a (same size)
]
ROUNDS = [{"round": 0, "controller_entropy": 3.0},
          {"round": 1, "controller_entropy": 2.5}]


def test_distinct_architectures_are_ranked_by_their_best_reward(tmp_path):
  run = summary.load_run(write_run(tmp_path, RECORDS, ROUNDS))
  entries = summary.rank(run)
  assert [e.arc for e in entries] == ["d", "b", "c", "a", "f"]
  assert [e.times for e in entries] == [1, 2, 1, 1, 1]
  assert entries[1].reward == 0.70


def test_the_pareto_front_keeps_what_nothing_beats_on_score_and_params(tmp_path):
  run = summary.load_run(write_run(tmp_path, RECORDS, ROUNDS))
  entries = summary.rank(run)
  assert summary.objectives(entries) == ("params",)
  assert [e.arc for e in summary.pareto_front(entries)] == ["a", "b", "d"]


def test_flops_join_the_front_when_every_record_has_them(tmp_path):
  records = [record("a", 0.5, params=100, flops=900),
             record("b", 0.5, params=200, flops=100),   # fewer FLOPs: kept
             record("c", 0.4, params=300, flops=950),   # beaten by a and b
             record("d", 0.9, params=500, flops=500)]
  run = summary.load_run(write_run(tmp_path, records))
  entries = summary.rank(run)
  assert summary.objectives(entries) == ("params", "flops")
  assert [e.arc for e in summary.pareto_front(entries)] == ["a", "b", "d"]
  assert [e.arc for e in summary.pareto_front(entries, ("params",))] == [
      "a", "d"]


def test_a_lower_perplexity_is_the_better_score(tmp_path):
  records = [dict(record("a", 0.1, params=100), valid_ppl=80.0),
             dict(record("b", 0.2, params=100), valid_ppl=60.0)]
  for r in records:
    del r["valid_accuracy"]
  entries = summary.rank(summary.load_run(write_run(tmp_path, records)))
  assert [e.arc for e in summary.pareto_front(entries)] == ["b"]


def test_the_table_labels_the_phase_and_shows_retrained_scores(tmp_path):
  records = [dict(record("1 2", 0.7, params=1000), phase="shared_weights"),
             dict(record("3 4", 0.6), phase="shared_weights")]
  path = write_run(tmp_path / "run", records, best={"arc": "1 2", "reward": 0.7})
  (tmp_path / "run" / "final").mkdir()
  (tmp_path / "run" / "final" / "result.json").write_text(json.dumps(
      {"arc": "1 2", "test_accuracy": 0.91}))
  run = summary.load_run(path)
  lines = summary.table(summary.rank(run), top_k=1)
  assert len(lines) == 3   # header, one row, its arc
  assert "search-phase (shared weights)" in lines[1]
  assert "test_accuracy 0.9100" in lines[1]
  assert "1,000" in lines[1] and lines[1].split()[-3:-1] == ["-", "1.5"]
  assert lines[2] == "#1 arc: 1 2"
  assert "retrained test_accuracy 0.9100" in summary.best_line(run)


def test_an_empty_directory_is_no_run(tmp_path):
  with pytest.raises(summary.SummaryError, match="no search"):
    summary.load_run(str(tmp_path))


def test_the_round_curve_sits_at_each_rounds_last_controller_step(tmp_path):
  run = summary.load_run(write_run(tmp_path, RECORDS, ROUNDS))
  assert summary.round_curve(run, "controller_entropy") == ([1, 3], [3.0, 2.5])
  steps, rewards = summary.reward_curve(run)
  assert steps == [0, 0, 1, 2, 2, 3] and len(rewards) == 6


def test_the_summarize_binary_prints_the_ranking_and_front_and_writes_plots(
    tmp_path):
  path = write_run(tmp_path / "run", RECORDS, ROUNDS,
                   best={"arc": "d", "reward": 0.8})
  result = subprocess.run(
      [sys.executable, "-m", "experiments.summarize", path, "--top_k=2"],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  out = result.stdout
  assert out.index("#1 arc: d") < out.index("#2 arc: b")
  assert "#3 arc" not in out
  assert "Pareto front (max score, min params): 3 architectures" in out
  for name in (summary_plots.PROGRESS, summary_plots.PARETO):
    with open(os.path.join(path, name), "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"
