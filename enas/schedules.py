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
