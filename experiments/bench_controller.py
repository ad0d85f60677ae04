r"""Benchmarks the controller: milliseconds per sample and per update.

  python -m experiments.bench_controller [--num_layers=15] [--m=8]

Uses the Zoph & Le NAS CNN space (filter height, width, count and skip
connections per layer) and the paper's controller (2 x 35 LSTM). The last
line is a JSON object; targets on 2 CPU cores: <= 20 ms per sample and
<= 100 ms per update of m = 8 architectures.
"""

import json
import os
import statistics
import time

from absl import app
from absl import flags

from experiments import cli

cli.import_tensorflow_quietly()

from child.nas_cnn import space as nas_cnn_space  # noqa: E402
from controller import strategy  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_layers", 15, "layers of the NAS CNN space.")
flags.DEFINE_integer("m", 8, "architectures per update.")
flags.DEFINE_integer("samples", 200, "samples to time.")
flags.DEFINE_integer("updates", 30, "updates to time.")
flags.DEFINE_integer("seed", 0, "seed.")


def main(argv):
  del argv
  space = nas_cnn_space.nas_cnn_space(num_layers=FLAGS.num_layers)
  search = strategy.make_strategy(space, seed=FLAGS.seed)
  search.ask(5)                                     # warm-up
  search.tell(search.ask(FLAGS.m), [0.5] * FLAGS.m)  # traces the update
  sample_ms = []
  for _ in range(FLAGS.samples):
    start = time.perf_counter()
    search.ask(1)
    sample_ms.append(1000 * (time.perf_counter() - start))
  update_ms = []
  for i in range(FLAGS.updates):
    samples = search.ask(FLAGS.m)
    rewards = [((i * 7 + k) % 10) / 10 for k in range(FLAGS.m)]
    start = time.perf_counter()
    search.tell(samples, rewards)
    update_ms.append(1000 * (time.perf_counter() - start))
  print(json.dumps({
      "space": f"nas_cnn, {FLAGS.num_layers} layers, "
               f"{space.num_tokens} tokens",
      "ms_per_sample": round(statistics.median(sample_ms), 3),
      "ms_per_update": round(statistics.median(update_ms), 3),
      "m": FLAGS.m, "cpu_count": os.cpu_count(),
      "load_average_1min": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
  app.run(main)
