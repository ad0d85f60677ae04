"""Specification of the ENAS benchmark's JSON line: one schema for all spaces."""

import pytest

from experiments import bench_enas_result

# The sizes each space reports under "details" (experiments/bench_enas.py and
# experiments/bench_enas_rnn.py).
DETAILS = {
    "macro": {"num_layers": 12, "out_filters": 36, "image_size": 32,
              "eval_traces": 1},
    "micro": {"num_layers": 6, "out_filters": 20, "image_size": 32,
              "eval_traces": 1},
    "rnn": {"bptt": 35, "hidden_size": 720, "vocab_size": 10000,
            "num_nodes": 12, "activation_select": "switch"},
}


def fake_measurements(space, shared=1.2, standalone=1.0, rss=1.9):
  """What a space's benchmark would hand over, with made-up figures."""
  return bench_enas_result.Measurements(
      space=space, steps=10, archs=50, batch_size=20,
      seconds_per_step=shared, seconds_per_step_random_arcs=1.3,
      standalone_seconds_per_step=standalone, first_step_seconds=6.0,
      first_standalone_step_seconds=3.0, traces=1, shared_params=1000,
      standalone_params=300, peak_rss_gb=rss, architecture="0 1 0",
      details=DETAILS[space])


def test_every_space_prints_the_same_keys():
  key_sets = {space: set(bench_enas_result.to_json(fake_measurements(space)))
              for space in DETAILS}
  assert key_sets["macro"] == key_sets["micro"] == key_sets["rnn"]


def test_the_keys_name_step_seconds_ratio_traces_and_memory():
  printed = bench_enas_result.to_json(fake_measurements("rnn"))
  assert {"space", "steps", "archs", "batch_size", "seconds_per_step",
          "seconds_per_step_random_arcs", "standalone_seconds_per_step",
          "ratio", "traces", "peak_rss_gb", "peak_rss_total_gb"} <= set(printed)


def test_the_ratio_is_the_shared_step_over_the_standalone_step():
  printed = bench_enas_result.to_json(
      fake_measurements("micro", shared=1.53, standalone=1.41))
  assert printed["ratio"] == pytest.approx(1.53 / 1.41, abs=1e-3)


def test_peak_rss_gb_is_the_search_part_and_the_total_is_the_whole_run():
  printed = bench_enas_result.to_json(fake_measurements("macro", rss=1.9134))
  assert printed["peak_rss_gb"] == 1.913
  assert printed["peak_rss_total_gb"] == pytest.approx(
      bench_enas_result.peak_rss_gib(), abs=1e-3)
