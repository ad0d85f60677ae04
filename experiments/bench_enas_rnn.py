"""The ENAS RNN supergraph step against the same cell built alone (§2.2).

``python -m experiments.bench_enas --space=rnn`` runs `benchmark`, at the
paper's search sizes by default (batch 20, bptt 35, hidden 720, vocabulary
10000, 12 nodes). It times one shared-weight `RnnSupergraph.train_step`
after warm-up, over the paper's final cell and over distinct random cells
(the ENAS case: a new child at every step), and the paper's cell as a
`FixedRnnLM` (its choices as Python constants, only its own weights,
compiled separately); their ratio is the price of serving every cell with
one compiled step. The keys are those of `experiments.bench_enas_result`.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from enas.recurrent import space as rnn_space
from enas.recurrent import supergraph as sg
from enas.recurrent.benchmark import FixedRnnLM, random_arcs
from experiments import bench_enas_result


def _timed(step, count: int) -> list[float]:
  """Seconds of each of `count` calls of ``step(k)`` (result fetched)."""
  times = []
  for k in range(count):
    start = time.perf_counter()
    loss, _ = step(k)
    float(loss)
    times.append(time.perf_counter() - start)
  return times


def benchmark(batch_size: int = 20, bptt: int = 35, hidden_size: int = 720,
              vocab_size: int = 10000, num_nodes: int = 12, steps: int = 10,
              num_archs: int = 50, warmup: int = 2,
              activation_select: str = "switch",
              seed: int = 0) -> bench_enas_result.Measurements:
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
    The measurements; ``details`` holds the sizes and the activation select.
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
  rss_shared = bench_enas_result.peak_rss_gib()

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

  hidden = hidden_size
  return bench_enas_result.Measurements(
      space="rnn", steps=steps, archs=num_archs, batch_size=batch_size,
      seconds_per_step=statistics.median(shared_paper),
      seconds_per_step_random_arcs=statistics.median(shared_random),
      standalone_seconds_per_step=statistics.median(fixed_times),
      first_step_seconds=first_shared_s,
      first_standalone_step_seconds=first_fixed_s,
      traces=shared.trace_count,
      shared_params=int(sum(np.prod(v.shape) for v in
                            shared.trainable_variables)),
      standalone_params=(vocab_size * hidden + 4 * hidden * hidden
                         + (num_nodes - 1) * 2 * hidden * hidden),
      peak_rss_gb=rss_shared,
      architecture=paper.to_string(),
      details={"bptt": bptt, "hidden_size": hidden_size,
               "vocab_size": vocab_size, "num_nodes": num_nodes,
               "activation_select": activation_select})
