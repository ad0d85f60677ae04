r"""Benchmarks the NAS engine: children per minute on 1 and 2 Ray workers.

  python -m experiments.bench_engine [--workers=1,2] [--children=16] [--m=2] \
      [--mode=async|sync] [--backend=ray|local]

Every child is the same small fixed network (2 layers of 4 and 8 filters,
one epoch on 400 digits images), so the figure measures the engine (pool,
loop, controller), not the sampled architectures: the controller (Zoph &
Le's LSTM with REINFORCE) samples and updates as in a search, but each of its
samples is replaced by the fixed architecture before training. For each
worker count the actors are started and each trains one child first
(start-up, data loading), then a search of `--children` children is timed
(the sum of its rounds' wall time).

The last line is a JSON object: ``children_per_minute`` and
``controller_idle_fraction`` (the share of the time the controller spent
waiting for children; asynchronous mode only) and ``worker_busy_fraction``
(children's training seconds over workers x wall time) per worker count, and
``speedup`` (the last count's children per minute over the first's; target
at least 1.7 for 2 workers on 2 idle cores).
"""

import dataclasses
import json
import os
import tempfile

from absl import app
from absl import flags

from experiments import cli

cli.import_tensorflow_quietly()

import gin  # noqa: E402

from controller import strategy as strategy_lib  # noqa: E402
from runner import from_scratch  # noqa: E402
from runner import loop  # noqa: E402
from runner import run_dir as run_dir_lib  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("workers", ["1", "2"], "worker counts to time.")
flags.DEFINE_integer("children", 16, "children timed per worker count.")
flags.DEFINE_integer("m", 2, "children per controller update.")
flags.DEFINE_enum("mode", "async", ["async", "sync"],
                  "FromScratch.asynchronous on or off.")
flags.DEFINE_enum("backend", "ray", ["ray", "local"], "FromScratch.backend.")
flags.DEFINE_integer("max_train", 400, "training images per child.")
flags.DEFINE_integer("epochs", 1, "epochs per child.")
flags.DEFINE_integer("seed", 0, "seed.")

ARC = "1 1 0 0 2 2 1 0 0"
"""The fixed child: 2 layers (the space of `CHILD`)."""

CHILD = [
    "ImageClassificationTask.dataset = 'digits'",
    "ImageClassificationTask.num_valid = 200",
    "nas_cnn_space.num_layers = 2",
    "nas_cnn_space.num_filters = (4, 8)",
    "ChildTrainerConfig.batch_size = 50",
]


class FixedChild:
  """A strategy that samples and learns as `inner` but trains one child.

  Each sample keeps the controller's work (sampling, the REINFORCE update on
  it) but carries the fixed architecture, so every child costs the same.
  """

  def __init__(self, inner, arc):
    self._inner = inner
    self._arc = arc
    self.space = inner.space

  def ask(self, num):
    return [dataclasses.replace(s, arc=self._arc)
            for s in self._inner.ask(num)]

  def tell(self, samples, rewards):
    return self._inner.tell(samples, rewards)

  def state(self):
    return self._inner.state()

  def load_state(self, state):
    self._inner.load_state(state)

  def set_space(self, space):
    self._inner.set_space(space)


def time_workers(num_workers: int, path: str) -> dict:
  """Children per minute and controller idle share with `num_workers`."""
  evaluator = from_scratch.FromScratch(
      gin.config_str(), num_workers=num_workers, backend=FLAGS.backend,
      asynchronous=FLAGS.mode == "async")
  arc = evaluator.parse(ARC)
  warm_up = [loop.Job(k, k, arc, k) for k in range(num_workers)]
  for _ in evaluator.evaluate(warm_up):  # one child per worker
    pass
  inner = strategy_lib.make_strategy(evaluator.space, FLAGS.seed)
  inner.tell(inner.ask(FLAGS.m), [0.5] * FLAGS.m)  # traces the update
  strategy = FixedChild(inner, arc)
  budget = loop.SearchBudget(rounds=max(1, FLAGS.children // FLAGS.m),
                             samples_per_update=FLAGS.m)
  run = run_dir_lib.RunDir(path)
  loop.run_search(run, strategy, evaluator, budget, FLAGS.seed,
                  log=lambda line: None)
  rounds = run.read_jsonl(loop.ROUNDS)
  records = run.children()
  seconds = sum(r["seconds"] for r in rounds)
  waiting = [r["seconds_waiting"] for r in rounds if "seconds_waiting" in r]
  return {
      "children": len(records),
      "failed": sum(r["status"] != "ok" for r in records),
      "seconds": round(seconds, 2),
      "children_per_minute": round(60 * len(records) / seconds, 2),
      "mean_child_seconds": round(
          sum(r["seconds"] or 0 for r in records) / len(records), 2),
      "controller_idle_fraction": (round(sum(waiting) / seconds, 3)
                                   if waiting else None),
      "worker_busy_fraction": round(
          sum(r["seconds"] or 0 for r in records) / (num_workers * seconds),
          3),
      "mean_staleness": (round(sum(r["staleness"] for r in records)
                               / len(records), 3)
                         if FLAGS.mode == "async" else None),
  }


def main(argv):
  del argv
  with cli.user_errors():
    cli.parse_gin(["gin/nas/quickstart.gin"], CHILD + [
        f"ImageClassificationTask.max_train = {FLAGS.max_train}",
        f"ChildTrainerConfig.epochs = {FLAGS.epochs}"])
    counts = [int(w) for w in FLAGS.workers]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
      for count in counts:
        path = os.path.join(tmp, f"workers-{count}")
        os.makedirs(path)
        results[str(count)] = time_workers(count, path)
  first = results[str(counts[0])]["children_per_minute"]
  last = results[str(counts[-1])]["children_per_minute"]
  print(json.dumps({
      "child": {"arc": ARC, "space": "nas_cnn, 2 layers, 4/8 filters",
                "data": f"digits, {FLAGS.max_train} training images",
                "epochs": FLAGS.epochs},
      "mode": FLAGS.mode, "backend": FLAGS.backend, "m": FLAGS.m,
      "workers": results,
      "speedup": round(last / first, 3),
      "target_speedup": 1.7,
      "cpu_count": os.cpu_count(),
      "load_average_1min": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
  app.run(main)
