"""Learning-rate schedules of the official ENAS scripts."""

import math


def cosine_lr(epoch: float, lr_max: float, lr_min: float, t0: float,
              tmul: float) -> float:
  """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter 2017).

  ``lr_min + (lr_max - lr_min)(1 + cos(pi T_cur / T_i)) / 2``, the period T_i
  starting at `t0` epochs and multiplied by `tmul` at each restart (the
  official scripts: T_0 = 10, T_mul = 2, so 10 + 20 + 40 + 80 + 160 = 310
  epochs). `epoch` may be fractional (the step's position in the epoch).
  """
  period, start = t0, 0.0
  while epoch >= start + period:
    start += period
    period *= tmul
  return lr_min + 0.5 * (lr_max - lr_min) * (
      1.0 + math.cos(math.pi * (epoch - start) / period))


def step_decay_lr(epoch: int, lr_init: float, decay_start: int,
                  decay_every: int, decay_rate: float,
                  lr_min: float = 0.0) -> float:
  """Staircase exponential decay by epoch, floored at `lr_min`.

  ``max(lr_init * decay_rate ** (max(epoch - decay_start, 0) // decay_every),
  lr_min)`` for the 0-based `epoch`: the schedule of the official ENAS PTB
  scripts (melodyguan/enas ``get_train_ops`` with ``staircase=True``, steps
  counted in epochs; ptb_search.sh: 0.25, from epoch 12, x0.95 every epoch,
  floor 5e-4).
  """
  decays = max(int(epoch) - decay_start, 0) // max(decay_every, 1)
  return max(lr_init * decay_rate ** decays, lr_min)
