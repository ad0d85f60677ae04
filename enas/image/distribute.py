"""One ENAS image model on several devices (`tf.distribute`, data parallel).

Ray (`runner`) spreads MANY children over workers; this module spreads ONE
model's training step over several devices of one machine with a
``tf.distribute.MirroredStrategy``: every device holds a copy of the weights,
each runs the step on its slice of the global batch, and the replicas add up
their gradients before the same update is applied to every copy.

Equal to one device at the same global batch (within float rounding):

* each replica's loss is its share of the GLOBAL mean (`local_mean`: the sum
  over its slice divided by the global count), so the summed gradients
  (`replica_sum`) are the full-batch gradient; a term over the weights (L2)
  is divided by the number of replicas (`per_replica_share`);
* batch norm is synchronised (`enas.image.ops.batch_norm_train`): the batch
  statistics are those of the global batch, all-reduced over the replicas;
* clipping and the Nesterov update then run on identical gradients, so the
  mirrored copies stay identical.

Not equal: dropout and drop-path masks are drawn by each replica for its
slice (stateful random ops placed per replica), not the masks one device
would draw for the global batch; the two agree only with them off.

The default (``strategy='default'``, one device) is today's code path: no
strategy scope, and the helpers are the identity or the plain mean.

Used by the final training (`enas.image.final_training`). Not by the
shared-weight search: its supergraphs choose ops with ``tf.switch_case``,
and on CPUs a MirroredStrategy all-reduce (the synchronised batch norm)
cannot run inside such a branch (``merge_call`` in control flow), so the
search stays on one device.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Callable, Sequence

import gin
import numpy as np
import tensorflow as tf

from controller import errors

STRATEGIES = ("default", "mirrored")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class DistributeConfig:
  """Which devices train one model.

  Attributes:
    strategy: 'default' (one device, no `tf.distribute`) or 'mirrored'
      (``tf.distribute.MirroredStrategy`` over `devices`).
    devices: device names for 'mirrored' (None: every GPU, else the CPU).
  """

  strategy: str = "default"
  devices: Sequence[str] | None = None

  def __post_init__(self):
    if self.strategy not in STRATEGIES:
      raise errors.ConfigError(f"DistributeConfig.strategy must be one of {STRATEGIES}, not {self.strategy!r}")

  def make(self) -> "Distribution":
    """The strategy (created now; TF's devices must be configured first)."""
    if self.strategy == "default":
      return Distribution(None)
    devices = list(self.devices) if self.devices else None
    return Distribution(tf.distribute.MirroredStrategy(devices=devices))


class Distribution:
  """A strategy (or none), its scope and the wrapper of a compiled step."""

  def __init__(self, strategy: tf.distribute.Strategy | None):
    self.strategy = strategy

  @property
  def num_replicas(self) -> int:
    return 1 if self.strategy is None else self.strategy.num_replicas_in_sync

  def scope(self):
    """Create the model and its optimizer slots in here (mirrored variables)."""
    return contextlib.nullcontext() if self.strategy is None else self.strategy.scope()

  def wrap_step(self, step: Callable[..., Any], num_batch_args: int) -> Callable[..., Any]:
    """``step(*batch, *rest)`` run on every replica with its batch slice.

    Args:
      step: the per-replica step (not compiled); its first `num_batch_args`
        arguments are split along axis 0 (contiguous slices, replica 0
        first), the rest go to every replica unchanged. It must return
        values already reduced over the replicas (`replica_sum`), the same
        on every replica; the first replica's are returned.
      num_batch_args: how many leading arguments are per-example.

    Returns:
      A compiled callable with `step`'s arguments (global batch).
    """
    strategy = self.strategy
    replicas = self.num_replicas

    @tf.function(autograph=False)
    def run(*args):
      outputs = strategy.run(step, args=args)
      return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], outputs)

    def call(*args):
      batch, rest = args[:num_batch_args], args[num_batch_args:]
      if len(batch[0]) < replicas:
        raise ValueError(f"a batch of {len(batch[0])} cannot be split over {replicas} replicas")
      bounds = np.linspace(0, len(batch[0]), replicas + 1).round().astype(int)
      split = [_split(strategy, np.asarray(a), bounds) for a in batch]
      return run(*split, *(tf.convert_to_tensor(r) for r in rest))

    return call


def _split(strategy, array: np.ndarray, bounds: np.ndarray):
  """Replica i gets ``array[bounds[i]:bounds[i + 1]]``."""
  def part(context):
    i = context.replica_id_in_sync_group
    return array[bounds[i]:bounds[i + 1]]
  return strategy.experimental_distribute_values_from_function(part)


def _replicas() -> int:
  context = tf.distribute.get_replica_context()
  return 1 if context is None else context.num_replicas_in_sync


def replica_sum(values: Any) -> Any:
  """`values` (a nest of tensors) summed over the replicas (identity on one)."""
  if _replicas() == 1:
    return values
  return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, values)


def local_mean(values: tf.Tensor) -> tf.Tensor:
  """This replica's share of the global batch mean of per-example `values`.

  ``tf.reduce_mean(values)`` on one replica; with several, the sum over this
  replica's examples divided by the global example count, so that the
  replicas' shares add up to the global mean.
  """
  if _replicas() == 1:
    return tf.reduce_mean(values)
  count = replica_sum(tf.cast(tf.shape(values)[0], values.dtype))
  return tf.reduce_sum(values) / tf.stop_gradient(count)


def per_replica_share(value: tf.Tensor) -> tf.Tensor:
  """A term computed whole on every replica (L2), divided among them."""
  replicas = _replicas()
  return value if replicas == 1 else value / float(replicas)
