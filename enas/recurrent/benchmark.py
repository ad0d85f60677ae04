"""Cost of the ENAS RNN supergraph step against the same cell built alone (§2.2).

Measures, at the paper's search sizes by default (batch 20, bptt 35, hidden
720, vocabulary 10000, 12 nodes):

* the median seconds of one shared-weight `RnnSupergraph.train_step` after
  warm-up, over distinct random architectures (the ENAS case: a new child at
  every step) and over the paper's final cell;
* the same for `FixedRnnLM`: the paper's cell with its choices as Python
  constants and only its own weights, compiled separately; their ratio is
  the price of serving every cell with one compiled step;
* the number of traces of the shared step over `num_archs` distinct
  architectures (1 means no retracing);
* peak RSS in GiB (``resource.getrusage``; after the supergraph, and at the
  end, which includes the fixed model).

Run ``python -m enas.recurrent.benchmark --steps=3 --num_archs=5``; the last line
printed is the result as JSON. Timings on a shared CPU are indicative only:
the result carries the 1-minute load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time

import gin
import numpy as np
import tensorflow as tf

from enas.recurrent import space as rnn_space
from enas.recurrent import supergraph as sg


class FixedRnnLM(tf.Module):
  """The language model of ONE cell: its choices are Python constants.

  Same embedding, dropouts, loss, clipping and SGD as `RnnSupergraph`, but
  only that cell's weights (node 0 and one ``[H, 2H]`` matrix per node) and
  no gathers or control flow.
  """

  def __init__(self, cell: rnn_space.RnnCell, *, vocab_size: int,
               hidden_size: int, dropout: sg.Dropout = sg.Dropout(),  # noqa: B008  (frozen)
               grad_bound: float = 10.0, l2_reg: float = 1e-7,
               seed: int = 0):
    super().__init__(name="fixed_rnn_lm")
    self.cell = cell
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.dropout = dropout
    self.grad_bound = grad_bound
    self.l2_reg = l2_reg
    weight = sg.uniform_weights(seed, sg.default_init_range(hidden_size))

    self.embedding = weight("embedding", [vocab_size, hidden_size])
    self.node0_weights = weight("node0", [2 * hidden_size, 2 * hidden_size])
    self.node_weights = [weight(f"node{i}", [hidden_size, 2 * hidden_size])
                         for i in range(1, cell.num_nodes)]
    self._rng = tf.random.Generator.from_seed(seed + 1)
    ids_spec = tf.TensorSpec([None, None], tf.int32)
    self._train_fn = tf.function(self._train, input_signature=(
        ids_spec, ids_spec, tf.TensorSpec([None, hidden_size], tf.float32),
        tf.TensorSpec([], tf.float32)))

  def train_step(self, x, y, state, learning_rate):
    """Returns (mean NLL per token, state to carry)."""
    return self._train_fn(x, y, state, tf.cast(learning_rate, tf.float32))

  def _train(self, x, y, state, learning_rate):
    variables = [self.embedding, self.node0_weights, *self.node_weights]
    masks = sg.sample_masks(self._rng, x, self.vocab_size, self.hidden_size,
                            self.dropout)
    wiring = sg.fixed_wiring(self.cell, self.node_weights)
    with tf.GradientTape() as tape:
      nll, h_last = sg.lm_nll(self.embedding, self.node0_weights, wiring, x, y,
                              state, masks)
      objective = tf.reduce_sum(nll) / tf.cast(tf.shape(x)[0], tf.float32)
      if self.l2_reg:
        objective += self.l2_reg * tf.add_n(
            [tf.reduce_sum(tf.square(w)) for w in variables])
    grads = tape.gradient(objective, variables)
    if self.grad_bound:
      grads, _ = tf.clip_by_global_norm(grads, self.grad_bound)
    sg.sgd_apply(variables, grads, learning_rate)
    return tf.reduce_mean(nll), tf.stop_gradient(h_last)


def random_arcs(space, count: int, seed: int) -> list[tuple[int, ...]]:
  """`count` distinct uniformly random architectures (token tuples)."""
  rng = np.random.default_rng(seed)
  num_nodes = space.meta("num_nodes")
  num_acts = len(rnn_space.ACTIVATIONS)
  arcs: dict[tuple[int, ...], None] = {}
  while len(arcs) < count:
    tokens = [int(rng.integers(num_acts))]
    for node in range(1, num_nodes):
      tokens += [int(rng.integers(node)), int(rng.integers(num_acts))]
    arcs[space.validate(tokens)] = None
  return list(arcs)


def _peak_rss_gib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def _timed(step, count: int) -> list[float]:
  """Seconds of each of `count` calls of ``step(k)`` (result fetched)."""
  times = []
  for k in range(count):
    start = time.perf_counter()
    loss, _ = step(k)
    float(loss)
    times.append(time.perf_counter() - start)
  return times


@gin.configurable
def benchmark(batch_size: int = 20, bptt: int = 35, hidden_size: int = 720,
              vocab_size: int = 10000, num_nodes: int = 12, steps: int = 10,
              num_archs: int = 50, warmup: int = 2,
              activation_select: str = "switch", seed: int = 0) -> dict:
  """Times the shared-weight step against the fixed cell; see module doc.

  Args:
    batch_size: B.
    bptt: T.
    hidden_size: H.
    vocab_size: V.
    num_nodes: nodes of the cell.
    steps: timed steps of each kind, after `warmup` untimed ones.
    num_archs: distinct random architectures run through the shared step
      (at least `steps` of them are timed; all count for traces).
    warmup: untimed steps first (the first one traces and compiles).
    activation_select: `RnnSupergraph` activation selection.
    seed: data, architectures and weights.

  Returns:
    A JSON-serialisable dict of measurements and settings.
  """
  space = rnn_space.rnn_cell_space(num_nodes)
  paper = (space.parse(rnn_space.PAPER_FINAL_CELL) if num_nodes == 12 else
           space.from_tokens(random_arcs(space, 1, seed + 7)[0]))
  cell = rnn_space.decode_rnn(paper)
  rng = np.random.default_rng(seed)
  x = rng.integers(0, vocab_size, (batch_size, bptt), dtype=np.int32)
  y = rng.integers(0, vocab_size, (batch_size, bptt), dtype=np.int32)
  lr = 0.25
  arcs = random_arcs(space, num_archs, seed)

  shared = sg.RnnSupergraph(space, vocab_size=vocab_size,
                            hidden_size=hidden_size, seed=seed,
                            activation_select=activation_select)
  state = [shared.initial_state(batch_size)]

  def shared_step(tokens):
    loss, state[0] = shared.train_step(x, y, tokens, state[0], lr)
    return loss, state[0]

  start = time.perf_counter()
  shared_step(paper.tokens)
  first_shared_s = time.perf_counter() - start
  _timed(lambda k: shared_step(paper.tokens), warmup - 1)
  shared_paper = _timed(lambda k: shared_step(paper.tokens), steps)
  shared_random = _timed(lambda k: shared_step(arcs[k]), max(steps, num_archs))
  rss_shared = _peak_rss_gib()

  fixed = FixedRnnLM(cell, vocab_size=vocab_size, hidden_size=hidden_size,
                     dropout=shared.dropout, seed=seed)
  fixed_state = [shared.initial_state(batch_size)]

  def fixed_step(_):
    loss, fixed_state[0] = fixed.train_step(x, y, fixed_state[0], lr)
    return loss, fixed_state[0]

  start = time.perf_counter()
  fixed_step(0)
  first_fixed_s = time.perf_counter() - start
  _timed(fixed_step, warmup - 1)
  fixed_times = _timed(fixed_step, steps)

  shared_paper_s = statistics.median(shared_paper)
  fixed_s = statistics.median(fixed_times)
  hidden = hidden_size
  return {
      "space": "rnn",
      "batch_size": batch_size, "bptt": bptt, "hidden_size": hidden_size,
      "vocab_size": vocab_size, "num_nodes": num_nodes, "steps": steps,
      "activation_select": activation_select,
      "shared_step_s": statistics.median(shared_random),
      "shared_paper_cell_step_s": shared_paper_s,
      "fixed_paper_cell_step_s": fixed_s,
      "ratio_shared_to_fixed": shared_paper_s / fixed_s,
      "first_step_s": {"shared": first_shared_s, "fixed": first_fixed_s},
      "num_archs": num_archs,
      "traces_over_archs": shared.trace_count,
      "shared_params": int(sum(np.prod(v.shape) for v in
                               shared.trainable_variables)),
      "child_params": vocab_size * hidden + 4 * hidden * hidden
                      + (num_nodes - 1) * 2 * hidden * hidden,
      "peak_rss_gb_after_shared": rss_shared,
      "peak_rss_gb": _peak_rss_gib(),
      "load_avg_1m": os.getloadavg()[0],
      "cpu_count": os.cpu_count(),
  }


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  for name, default in (("batch_size", 20), ("bptt", 35), ("hidden_size", 720),
                        ("vocab_size", 10000), ("num_nodes", 12),
                        ("steps", 10), ("num_archs", 50), ("warmup", 2),
                        ("seed", 0)):
    parser.add_argument(f"--{name}", type=int, default=default)
  parser.add_argument("--activation_select", default="switch",
                      choices=sg.ACTIVATION_SELECTS)
  args = parser.parse_args(argv)
  print(json.dumps(benchmark(**vars(args)), sort_keys=True))


if __name__ == "__main__":
  main()
