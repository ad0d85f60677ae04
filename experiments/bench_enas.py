"""Benchmarks one ENAS shared-weight child step against a standalone child.

Pham et al. 2018 §2.1: a shared-weight step trains ONE sampled child on one
minibatch. This measures, on random data (no dataset needed):

* ``shared_step_s``: median seconds of the supergraph's compiled
  ``train_step`` on one sampled architecture A (after a warm-up step);
* ``shared_step_random_arcs_s``: the same over a new random architecture
  every step (the search's situation; op mixes differ in cost);
* ``standalone_step_s``: A trained as a standalone model: the SAME supergraph
  code with A as a Python constant, compiled separately
  (``SharedWeightModel.fixed_train_step``): only A's ops are in the graph and
  only the weights A uses are read, decayed and updated, with their own
  momentum;
* ``ratio`` = shared / standalone (target <= 1.3);
* ``train_traces`` / ``eval_traces``: Python traces of the compiled train and
  eval functions after stepping through 50 distinct random architectures
  (run at a tiny batch; target 1 each);
* ``peak_rss_gb``: ``ru_maxrss`` of this process in GiB (2^30 bytes;
  target <= 2.5 GB), and
  ``peak_rss_shared_gb``, the same read before the standalone model is
  built: the search's own peak (compile, then shared-weight steps);
* ``load_avg``: the 1-minute load average at the end (the CPU may be shared).

Defaults are the official search settings (melodyguan/enas scripts): macro
batch 128, 12 layers, 36 filters; micro batch 160, 6 (+2) layers, 20
filters, 5 nodes; 32x32x3 images, 10 classes. ``--space=rnn`` delegates to
``enas.recurrent.benchmark.benchmark(**kwargs) -> dict`` (steps, warmup, seed,
and batch_size / num_nodes when given).

The last line printed is the JSON result.

  python -m experiments.bench_enas --space=macro --steps=5
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("space", "macro", ["macro", "micro", "rnn"],
                  "Which supergraph to benchmark.")
flags.DEFINE_integer("steps", 10, "Timed steps per measurement.")
flags.DEFINE_integer("warmup", 1, "Untimed steps first (the first traces).")
flags.DEFINE_integer("batch_size", None,
                     "Minibatch; default: official (macro 128, micro 160).")
flags.DEFINE_integer("num_layers", None,
                     "Layers; default: official (macro 12, micro 6).")
flags.DEFINE_integer("out_filters", None,
                     "Filters; default: official (macro 36, micro 20).")
flags.DEFINE_integer("num_nodes", None,
                     "Nodes per cell; default: official (micro 5, rnn 12).")
flags.DEFINE_integer("image_size", 32, "Images are image_size^2 x 3.")
flags.DEFINE_integer("num_classes", 10, "Classifier outputs.")
flags.DEFINE_integer("trace_archs", 50,
                     "Distinct architectures for the retracing check.")
flags.DEFINE_integer("trace_batch", 2, "Batch of the retracing check.")
flags.DEFINE_float("learning_rate", 0.05, "SGD learning rate.")
flags.DEFINE_integer("seed", 0, "Seed of data and architectures.")

OFFICIAL = {"macro": dict(batch_size=128, num_layers=12, out_filters=36),
            "micro": dict(batch_size=160, num_layers=6, out_filters=20)}


def _setting(name: str) -> int:
  value = getattr(FLAGS, name)
  return OFFICIAL[FLAGS.space][name] if value is None else value


def _median_seconds(step, count: int) -> float:
  times = []
  for i in range(count):
    start = time.perf_counter()
    out = step(i)
    float(out["loss"])  # wait for the result
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def _peak_rss_gb() -> float:
  return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2,
               3)


def build(space_name: str):
  """The search space and supergraph of the flags."""
  from enas.image import spaces as image_spaces
  shape = (FLAGS.image_size, FLAGS.image_size, 3)
  if space_name == "macro":
    from enas.macro.supergraph import MacroSupergraph
    space = image_spaces.macro_space(_setting("num_layers"))
    model = MacroSupergraph(space, input_shape=shape,
                            num_classes=FLAGS.num_classes,
                            out_filters=_setting("out_filters"))
  else:
    from enas.micro.supergraph import MicroSupergraph
    space = image_spaces.micro_space(FLAGS.num_nodes or 5)
    model = MicroSupergraph(space, input_shape=shape,
                            num_classes=FLAGS.num_classes,
                            num_layers=_setting("num_layers"),
                            out_filters=_setting("out_filters"))
  return space, model


def benchmark_image() -> dict:
  """Runs the measurements of the module docstring for macro or micro."""
  import numpy as np
  import tensorflow as tf
  from enas.image import spaces as image_spaces

  rng = np.random.default_rng(FLAGS.seed)
  space, model = build(FLAGS.space)
  batch = _setting("batch_size")
  shape = (FLAGS.image_size, FLAGS.image_size, 3)
  images = tf.constant(rng.normal(size=(batch, *shape)).astype(np.float32))
  labels = tf.constant(rng.integers(FLAGS.num_classes, size=batch),
                       tf.int32)
  lr = tf.constant(FLAGS.learning_rate, tf.float32)
  arc = image_spaces.random_architecture(space, rng)
  logging.info("architecture A: %s", arc.to_string())

  start = time.perf_counter()
  for _ in range(FLAGS.warmup):
    model.train_step(images, labels, arc, lr)
  first_s = time.perf_counter() - start
  shared = _median_seconds(
      lambda i: model.train_step(images, labels, arc, lr), FLAGS.steps)
  arcs = [image_spaces.random_architecture(space, rng)
          for _ in range(FLAGS.steps)]
  shared_random = _median_seconds(
      lambda i: model.train_step(images, labels, arcs[i], lr), FLAGS.steps)
  logging.info("shared step %.3f s (random arcs %.3f s)", shared,
               shared_random)
  shared_rss = _peak_rss_gb()

  fixed = model.fixed_train_step(arc)
  start = time.perf_counter()
  for _ in range(FLAGS.warmup):
    fixed(images, labels, lr)
  fixed_first_s = time.perf_counter() - start
  standalone = _median_seconds(lambda i: fixed(images, labels, lr),
                               FLAGS.steps)
  logging.info("standalone step %.3f s", standalone)

  small_images, small_labels = images[:FLAGS.trace_batch], labels[
      :FLAGS.trace_batch]
  seen = set()
  while len(seen) < FLAGS.trace_archs:
    other = image_spaces.random_architecture(space, rng)
    if other.tokens in seen:
      continue
    seen.add(other.tokens)
    model.train_step(small_images, small_labels, other, lr)
    model.eval_accuracy(small_images, small_labels, other)

  return {
      "space": FLAGS.space,
      "batch_size": batch,
      "num_layers": _setting("num_layers"),
      "out_filters": _setting("out_filters"),
      "image_size": FLAGS.image_size,
      "steps": FLAGS.steps,
      "shared_step_s": round(shared, 4),
      "shared_step_random_arcs_s": round(shared_random, 4),
      "standalone_step_s": round(standalone, 4),
      "ratio": round(shared / standalone, 3),
      "peak_rss_shared_gb": shared_rss,
      "first_shared_step_s": round(first_s, 2),
      "first_standalone_step_s": round(fixed_first_s, 2),
      "train_traces": model.train_trace_count,
      "eval_traces": model.trace_count - model.train_trace_count,
      "trace_archs": len(seen),
      "shared_params": int(sum(np.prod(v.shape)
                               for v in model.trainable_weights)),
      "standalone_params": fixed.num_child_params,
      "architecture": arc.to_string(),
  }


def benchmark_rnn() -> dict:
  """Delegates to ``enas.recurrent.benchmark.benchmark`` (written elsewhere)."""
  try:
    from enas.recurrent import benchmark as rnn_benchmark
  except ImportError as error:
    raise SystemExit(
        f"--space=rnn needs enas/rnn_benchmark.py with "
        f"benchmark(**kwargs) -> dict, which is missing ({error})") from None
  kwargs = {"steps": FLAGS.steps, "warmup": FLAGS.warmup, "seed": FLAGS.seed}
  for name in ("batch_size", "num_nodes"):
    if getattr(FLAGS, name) is not None:
      kwargs[name] = getattr(FLAGS, name)
  return dict(rnn_benchmark.benchmark(**kwargs))


def main(argv):
  del argv
  result = benchmark_rnn() if FLAGS.space == "rnn" else benchmark_image()
  result["peak_rss_gb"] = _peak_rss_gb()
  result["load_avg"] = round(os.getloadavg()[0], 2)
  sys.stdout.flush()
  print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
  app.run(main)
