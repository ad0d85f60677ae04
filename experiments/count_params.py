r"""Prints the parameter count of one architecture.

  python -m experiments.count_params --gin_file=F --arc='...'

The last line is ``{"params": N}``; for an ENAS image final model it also
has ``"params_without_aux"``, the count without the auxiliary head (the
official ENAS code printed that one). The input shape and number of classes
come from the flags (default CIFAR-10: 32x32x3, 10 classes); no data is read.
"""

import json

from absl import app
from absl import flags

from experiments import cli

cli.import_tensorflow_quietly()

FLAGS = flags.FLAGS
cli.define_gin_flags()
cli.define_arc_flags("count")
flags.DEFINE_list("input_shape", ["32", "32", "3"], "height,width,channels.")
flags.DEFINE_integer("num_classes", 10, "classes of the classifier.")


def main(argv):
  del argv
  with cli.user_errors():
    task, arc = cli.configured_arc(FLAGS.gin_file, FLAGS.gin_bindings,
                                   FLAGS.arc, FLAGS.arc_file)
    shape = tuple(int(v) for v in FLAGS.input_shape)
    print(json.dumps(_counts(task, arc, shape, FLAGS.num_classes)))


def _counts(task, arc, shape, num_classes) -> dict[str, int]:
  """``params``, and whatever else the task counts (ENAS image final models:
  ``params_without_aux``)."""
  counts = getattr(task, "parameter_counts", None)
  if counts is not None:
    return counts(arc, shape, num_classes)
  return {"params": task.count_params(arc, shape, num_classes)}


if __name__ == "__main__":
  app.run(main)
