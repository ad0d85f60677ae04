"""Progress of long loops: rate and ETA figures, a live bar only on a terminal."""

import io
import sys

import pytest

from child import progress


class FakeTerminal(io.StringIO):

  def isatty(self):
    return True


def test_durations_read_as_seconds_minutes_hours_days():
  assert progress.format_duration(45) == "45s"
  assert progress.format_duration(725) == "12m05s"
  assert progress.format_duration(3 * 3600 + 7 * 60 + 20) == "3h07m"
  assert progress.format_duration(2 * 86400 + 4 * 3600) == "2d04h"
  assert progress.format_duration(None) == "?"


def test_a_rate_is_per_second_when_fast_and_seconds_per_item_when_slow():
  assert progress.format_rate(30, 10) == "3.0/s"
  assert progress.format_rate(2, 50, "epoch") == "25.0s/epoch"
  assert progress.format_rate(0, 10) == "?"


def test_the_eta_extrapolates_the_mean_pace_so_far():
  assert progress.eta_seconds(2, 10, 50) == pytest.approx(200)
  assert progress.pace(2, 10, 80, "epoch") == "40.0s/epoch, ETA 5m20s"
  assert progress.pace(10, 10, 80, "epoch") == "8.0s/epoch"   # nothing left
  assert progress.pace(0, 10, 0, "epoch") == "?"


def test_nothing_is_written_when_stderr_is_not_a_terminal(monkeypatch, capsys):
  monkeypatch.setattr(sys, "stderr", io.StringIO())
  assert list(progress.track(range(3), "step")) == [0, 1, 2]
  progress.above_bars(print)("epoch 1/1: done")
  assert sys.stderr.getvalue() == ""
  assert capsys.readouterr().out == "epoch 1/1: done\n"


def test_a_terminal_gets_one_redrawn_line_of_every_running_loop(monkeypatch):
  terminal = FakeTerminal()
  monkeypatch.setattr(sys, "stderr", terminal)
  monkeypatch.setattr(progress, "MIN_INTERVAL", 0.0)
  lines = []
  for _ in progress.track(range(2), "epoch", unit="epoch"):
    for _ in progress.track(range(4), "step"):
      pass
    progress.above_bars(lines.append)("epoch line")
  text = terminal.getvalue()
  assert "\n" not in text                           # redrawn in place
  assert "epoch 0/2 | step 4/4" in text
  assert "ETA" in text and "/s" in text
  assert "epoch 1/2" in text and "ETA" in text.split("epoch 1/2")[1]
  assert text.endswith("\r\x1b[K")                  # cleared when done
  assert lines == ["epoch line", "epoch line"]


def test_a_bar_leaves_the_first_item_out_of_its_rate(monkeypatch):
  clock = iter([0.0, 10.0, 11.0, 12.0])                # the first step compiles
  monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
  bar = progress.Bar("step", 5, "step")
  for _ in range(3):
    bar.advance()
  assert bar.text(12.0) == "step 3/5 1.0/s ETA 2s"
