"""Benchmarks one ENAS shared-weight child step against a standalone child.

  python -m experiments.bench_enas --space=macro|micro|rnn [--steps=5]

Pham et al. 2018 §2.1: a shared-weight step trains ONE sampled child on one
minibatch. On random data (no dataset needed) this times the supergraph's
compiled train step on one sampled architecture A (after warm-up) and over a
new random architecture every step; A trained as a standalone model (image
spaces: the SAME supergraph code with A as a Python constant, compiled
separately, ``SharedWeightModel.fixed_train_step``; rnn: the paper's cell as
`FixedRnnLM`), so only A's ops are in the graph and only its weights are
read and updated; and counts the traces of the train step over
``--trace_archs`` distinct random architectures (image spaces at a tiny
batch). Targets: ratio <= 1.3, one trace, peak RSS <= 2.5 GB.

The last line printed is a JSON object with the same keys for every space
(`experiments.bench_enas_result`): ``seconds_per_step`` (shared step of A),
``seconds_per_step_random_arcs``, ``standalone_seconds_per_step``, ``ratio``
(shared / standalone), ``traces``, ``peak_rss_gb`` (the search part, GiB)
and ``peak_rss_total_gb`` (the whole run, GiB), plus ``space``, ``steps``,
``archs``, ``batch_size`` and the space's own sizes under ``details``.

Defaults are the official search settings (melodyguan/enas scripts): macro
batch 128, 12 layers, 36 filters; micro batch 160, 6 (+2) layers, 20
filters, 5 nodes; 32x32x3 images, 10 classes; rnn batch 20, bptt 35, hidden
720, 12 nodes (`experiments/bench_enas_rnn.py`).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from absl import app
from absl import flags
from absl import logging

from experiments import bench_enas_result
from experiments import cli

cli.import_tensorflow_quietly()

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


# Which flag sizes what: the macro space counts layers; the micro space
# counts nodes per cell and its supergraph stacks the layers.
SPACE_ARGS = {"macro": lambda: dict(num_layers=_setting("num_layers")),
              "micro": lambda: dict(num_nodes=FLAGS.num_nodes or 5)}
SUPERGRAPH_ARGS = {
    "macro": lambda: dict(out_filters=_setting("out_filters")),
    "micro": lambda: dict(num_layers=_setting("num_layers"),
                          out_filters=_setting("out_filters"))}


def build(space_name: str):
  """The search space and supergraph of the flags."""
  from enas.image import families
  family = families.get(space_name)
  space = family.make_space(**SPACE_ARGS[space_name]())
  model = family.make_supergraph(
      space, input_shape=(FLAGS.image_size, FLAGS.image_size, 3),
      num_classes=FLAGS.num_classes, **SUPERGRAPH_ARGS[space_name]())
  return space, model


def benchmark_image() -> bench_enas_result.Measurements:
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
  shared_rss = bench_enas_result.peak_rss_gib()

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

  return bench_enas_result.Measurements(
      space=FLAGS.space, steps=FLAGS.steps, archs=len(seen), batch_size=batch,
      seconds_per_step=shared, seconds_per_step_random_arcs=shared_random,
      standalone_seconds_per_step=standalone,
      first_step_seconds=first_s, first_standalone_step_seconds=fixed_first_s,
      traces=model.train_trace_count,
      shared_params=int(sum(np.prod(v.shape)
                            for v in model.trainable_weights)),
      standalone_params=fixed.num_child_params,
      peak_rss_gb=shared_rss,
      architecture=arc.to_string(),
      details={"num_layers": _setting("num_layers"),
               "out_filters": _setting("out_filters"),
               "image_size": FLAGS.image_size,
               "eval_traces": model.trace_count - model.train_trace_count})


def benchmark_rnn() -> bench_enas_result.Measurements:
  """Runs `experiments.bench_enas_rnn.benchmark` with the flags given."""
  from experiments import bench_enas_rnn
  kwargs = {"steps": FLAGS.steps, "warmup": FLAGS.warmup, "seed": FLAGS.seed,
            "num_archs": FLAGS.trace_archs}
  for name in ("batch_size", "num_nodes"):
    if getattr(FLAGS, name) is not None:
      kwargs[name] = getattr(FLAGS, name)
  return bench_enas_rnn.benchmark(**kwargs)


def main(argv):
  del argv
  measured = benchmark_rnn() if FLAGS.space == "rnn" else benchmark_image()
  sys.stdout.flush()
  print(json.dumps(bench_enas_result.to_json(measured), sort_keys=True))


if __name__ == "__main__":
  app.run(main)
