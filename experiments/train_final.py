r"""Trains one fixed architecture from scratch and tests it.

  python -m experiments.train_final --gin_file=F --arc='1 2 0 ...' \
      --output_dir=D [--arc_file=RUN/best.json] [--seed=N] \
      [--resume | --overwrite]

The task, data and training settings come from gin (for a NAS search, the
search's gin file plus bindings for the longer final schedule, e.g.
``--gin_bindings='ChildTrainerConfig.epochs=20'``). Writes
``D/result.json`` (arc, test accuracy, validation accuracies, parameters,
seconds) and the trained model: ``D/model.keras`` and ``D/saved_model/``
for serving (`child.export`; language models also ``D/vocab.txt``).

Every final training (ENAS image and PTB, NAS CNN and tree-cell language
model) commits a checkpoint to D after each epoch (weights, optimizer slots,
random streams); ``--resume`` continues a killed run from its last good
epoch and ends with the result an uninterrupted run gives.
"""

import json
import os

from absl import app
from absl import flags

from experiments import cli

cli.import_tensorflow_quietly()

FLAGS = flags.FLAGS
cli.define_gin_flags()
cli.define_arc_flags("train")
cli.define_output_flags("where result.json and the model go.",
                        overwrite="replace --output_dir if it exists.",
                        resume="continue the training in --output_dir from "
                        "its last finished epoch.")
flags.DEFINE_integer("seed", 0, "training seed.")


def main(argv):
  del argv
  cli.print_devices()
  with cli.user_errors():
    task, arc = cli.configured_arc(FLAGS.gin_file, FLAGS.gin_bindings,
                                   FLAGS.arc, FLAGS.arc_file)
    from runner import run_dir  # pylint: disable=g-import-not-at-top
    if not FLAGS.output_dir:
      raise cli.UsageError("pass --output_dir")
    run_dir.prepare(FLAGS.output_dir, resume=FLAGS.resume,
                    overwrite=FLAGS.overwrite)
    from runner import tensorboard  # pylint: disable=g-import-not-at-top
    result = tensorboard.evaluate_logged(task, arc, FLAGS.seed, FLAGS.output_dir)
    result = dict(result, arc=str(arc), space=task.space.name,
                  seed=FLAGS.seed)
    run_dir.atomic_write_json(os.path.join(FLAGS.output_dir, "result.json"),
                              result)
    print(json.dumps({k: result.get(k) for k in (
        "status", "test_accuracy", "valid_accuracy", "test_ppl", "valid_ppl",
        "params", "seconds", "error") if result.get(k) is not None}))


if __name__ == "__main__":
  app.run(main)
