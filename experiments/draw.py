r"""Draws one architecture as a picture (Graphviz).

  python -m experiments.draw --gin_file=F (--arc='...' | --arc_file=D/best.json) \
      [--gin_bindings='x.y=1'] --out=cell.svg

The gin files configure the task whose architectures are drawn, as for
`experiments.train_final` (for an ENAS search, its final-training gin file,
e.g. gin/enas/fashion_mnist_final_cpu.gin). ``--out`` ends in ``.dot`` (the
Graphviz text), ``.svg`` or ``.png``; without the ``dot`` binary only the
``.dot`` file is written, and one line says so. Each family draws itself
(``draw.py`` in its home; `runner.pictures`). A malformed architecture ends
with one ``error:`` line and exit code 2.
"""

import json
import sys

from absl import app
from absl import flags

from experiments import cli

cli.import_tensorflow_quietly()

from runner import pictures  # noqa: E402

FLAGS = flags.FLAGS
cli.define_gin_flags()
cli.define_arc_flags("draw")
flags.DEFINE_string("out", None, "the picture: a .dot, .svg or .png file.")


def _recorded_space(arc_file: str | None) -> str | None:
  try:
    with open(arc_file) as f:
      return json.load(f).get("space")
  except (OSError, ValueError, TypeError, AttributeError):
    return None


def main(argv):
  del argv
  with cli.user_errors():
    if not FLAGS.out:
      raise cli.UsageError("pass --out=FILE.svg (or .png, .dot)")
    task = cli.configured_task(FLAGS.gin_file, FLAGS.gin_bindings)
    recorded = _recorded_space(FLAGS.arc_file) if FLAGS.arc_file else None
    if recorded and recorded.rstrip("0123456789") != \
        task.space.name.rstrip("0123456789"):
      raise cli.UsageError(
          f"{FLAGS.arc_file} holds an {recorded} architecture, but the gin "
          f"files configure a {task.space.name} task: pass the gin file that "
          "trains it (for an ENAS search, its final-training one)")
    arc = task.parse(cli.arc_text(FLAGS.arc, FLAGS.arc_file))
    try:
      written = pictures.write_picture(arc, FLAGS.out)
    except pictures.RenderError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(1)
    print(f"wrote {', '.join(written)}")


if __name__ == "__main__":
  app.run(main)
