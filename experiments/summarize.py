r"""Summarizes a search's run directory: the best architectures, the Pareto front, plots.

  python -m experiments.summarize RUN_DIR [--top_k=10] \
      [--result=FINAL_DIR/result.json ...] [--plot_dir=D]

Prints the top-k distinct architectures by reward (search score labelled
"search-phase (shared weights)" or "from scratch" by the record's phase, the
retrained test score when a ``result.json`` of `experiments.train_final` for
it is under RUN_DIR or named by --result, parameters, FLOPs, seconds), then
the Pareto-optimal ones (max score, min parameters, and min FLOPs when the
records have them). Writes ``progress.png`` (reward and controller entropy
over controller steps) and ``pareto.png`` into --plot_dir (default RUN_DIR).
"""

import os

from absl import app
from absl import flags

from experiments import cli
from runner import summary

FLAGS = flags.FLAGS
flags.DEFINE_integer("top_k", 10, "how many architectures to list.")
flags.DEFINE_multi_string("result", [], "final-training result.json files.")
flags.DEFINE_string("plot_dir", None, "where the PNG plots go (default: the run).")


def main(argv):
  with cli.user_errors():
    if len(argv) != 2:
      raise cli.UsageError("pass one run directory: python -m "
                           "experiments.summarize RUN_DIR")
    if FLAGS.top_k < 1:
      raise cli.UsageError("--top_k must be positive")
    try:
      run = summary.load_run(argv[1], FLAGS.result)
    except summary.SummaryError as e:
      raise cli.UsageError(str(e)) from None
    entries = summary.rank(run)
    sizes = summary.objectives(entries)
    front = summary.pareto_front(entries, sizes)
    print(f"{len(entries)} distinct architectures ({len(run.records)} "
          f"evaluations) in {run.path}; top {min(FLAGS.top_k, len(entries))}:")
    print("\n".join(summary.table(entries, FLAGS.top_k)))
    best = summary.best_line(run)
    if best:
      print("\n" + best)
    print(f"\nPareto front (max score, min {', '.join(sizes)}): "
          f"{len(front)} architectures")
    print("\n".join(summary.front_lines(front, sizes)) or "  (no sizes recorded)")
    from runner import summary_plots  # pylint: disable=g-import-not-at-top
    plot_dir = FLAGS.plot_dir or run.path
    os.makedirs(plot_dir, exist_ok=True)
    written = [summary_plots.plot_progress(
        run, os.path.join(plot_dir, summary_plots.PROGRESS))]
    written.append(summary_plots.plot_pareto(
        entries, front, sizes, os.path.join(plot_dir, summary_plots.PARETO)))
    print("plots: " + ", ".join(written))


if __name__ == "__main__":
  app.run(main)
