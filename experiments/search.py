r"""Runs an architecture search.

  python -m experiments.search --gin_file=gin/quickstart.gin \
      [--gin_file=F2] [--gin_bindings='x.y=1'] [--output_dir=D] \
      [--resume | --overwrite] [--seed=N]

The mode (NAS, Zoph & Le 2017; ENAS, Pham et al. 2018), the search space, the
data and every hyperparameter come from gin. Bad input (unknown gin
bindings, a missing data set, a malformed architecture, a run directory that
already exists) ends with one line on stderr and exit code 2.

With ``Retrain.enabled = True`` (gin/quickstart.gin) the result is then
retrained from scratch and tested (`runner.retrain`): RUN/retrained/.
"""

from absl import app
from absl import flags

from experiments import cli

cli.import_tensorflow_quietly()

FLAGS = flags.FLAGS
cli.define_gin_flags()
cli.define_output_flags("run directory (default runs/<gin file>-<time>).",
                        resume="continue the run in --output_dir.",
                        overwrite="replace the run in --output_dir.")
flags.DEFINE_integer("seed", 0, "seed of the controller and the children.")


def main(argv):
  del argv
  with cli.user_errors():
    cli.print_devices()
    output_dir = FLAGS.output_dir or cli.default_output_dir(FLAGS.gin_file)
    best = cli.run_search(FLAGS.gin_file, FLAGS.gin_bindings, output_dir,
                          seed=FLAGS.seed, resume=FLAGS.resume,
                          overwrite=FLAGS.overwrite)
    cli.print_result(best, output_dir)
    # The result retrained from scratch, when gin asks for it (Retrain).
    from runner import retrain  # pylint: disable=g-import-not-at-top
    from runner import run_dir  # pylint: disable=g-import-not-at-top
    cli.print_retrained(retrain.retrain_after_search(
        run_dir.RunDir(output_dir), best, FLAGS.seed), output_dir)


if __name__ == "__main__":
  app.run(main)
