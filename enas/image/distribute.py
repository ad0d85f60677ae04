"""One ENAS image model on several devices (`tf.distribute`, data parallel).

Ray (`runner`) spreads MANY children over workers; this module spreads ONE
model's training step over several devices of one machine with a
``tf.distribute.MirroredStrategy``: every device holds a copy of the weights,
each runs the step on its slice of the global batch, and the replicas add up
their gradients before the same update is applied to every copy. Both the
final training (`enas.image.final_training`) and the shared-weight search
(`enas.image.ops.SharedWeightModel`, macro and micro) use it.

Equal to one device at the same global batch (within float rounding):

* each replica's loss is its share of the GLOBAL mean (`local_mean`: the sum
  over its slice divided by the global count), so the summed gradients
  (`replica_sum`) are the full-batch gradient; a term over the weights (L2)
  is divided by the number of replicas (`per_replica_share`);
* batch norm is synchronised (`enas.image.ops.batch_norm_train` through
  `sync_sum`): the batch statistics are those of the global batch;
* the search's dropout mask is the one one device would draw for the global
  batch, sliced (`global_batch_uniform`), from the same saved seed stream;
* clipping and the Nesterov update then run on identical gradients, so the
  mirrored copies stay identical.

How batch norm is synchronised inside the supergraphs: they choose ops with
``tf.switch_case``, and on CPUs MirroredStrategy's own all-reduce goes
through ``merge_call``, which TensorFlow refuses inside control flow. So
`sync_sum` issues TF's collective all-reduce ops itself (``CollectiveReduceV2``,
the ops TF's own ``CollectiveAllReduce`` uses), which are ordinary ops and
run inside a branch: instance keys are numbered in tracing order (every
replica traces the same code, so the keys match), the backward pass
all-reduces the gradient, and a per-device ordering token keeps the order
the same on every device (needed by NCCL on GPUs). They do not run inside a
``tf.while_loop`` here (they time out), so under several replicas the micro
supergraph unrolls its node loop (`replicas`).

Not equal: the final training's dropout and drop-path masks are drawn by
each replica for its slice (stateful random ops placed per replica); the two
agree only with them off.

The default (``strategy='default'``, one device) is today's code path: no
strategy scope, and the helpers are the identity or the plain mean.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import threading
from typing import Any, Callable, Sequence

import gin
import numpy as np
import tensorflow as tf

from controller import errors

STRATEGIES = ("default", "mirrored")
# Collective all-reduces time out after this long instead of hanging (a
# replica that traced different code would otherwise wait forever).
COLLECTIVE_TIMEOUT_SECONDS = 600.0
_GROUP_KEY = 0x5E45  # one group: the replicas of the active strategy


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
    """The distribution (TF's devices must be configured first).

    One per device set and process, made at the first call: two
    MirroredStrategy objects over the same devices would number their
    collectives alike and collide (e.g. a search, then its retraining).
    """
    if self.strategy == "default":
      return Distribution(None)
    key = tuple(self.devices) if self.devices else None
    if key not in _MADE:
      if key:
        _check_devices(key)
      # TF's per-trace INFO lines about its strategy and all-reduces are noise.
      tf.get_logger().setLevel("WARNING")
      _MADE[key] = Distribution(tf.distribute.MirroredStrategy(devices=list(key) if key else None))
    return _MADE[key]


def _check_devices(devices: Sequence[str]) -> None:
  """Every device must exist here: TF would place a missing one's ops on
  another device and its collectives would wait for a peer that never comes."""
  have = {(d.device_type, tf.DeviceSpec.from_string(d.name).device_index)
          for d in tf.config.list_logical_devices()}
  for name in devices:
    try:
      spec = tf.DeviceSpec.from_string(name)
    except ValueError:
      spec = None
    if spec is None or (str(spec.device_type).upper(), spec.device_index) not in have:
      names = ", ".join(f"/{t.lower()}:{i}" for t, i in sorted(have))
      raise errors.ConfigError(f"DistributeConfig.devices: {name!r} is not a device of this machine "
                               f"(it has {names})")


_MADE: dict[tuple[str, ...] | None, "Distribution"] = {}


class Distribution:
  """A strategy (or none), its scope and the wrapper of a compiled step."""

  def __init__(self, strategy: tf.distribute.Strategy | None):
    self.strategy = strategy
    self.devices: tuple[str, ...] = ()
    self._tokens: list[tf.Variable] = []
    if strategy is not None and strategy.num_replicas_in_sync > 1:
      # Outside the strategy's scope: plain per-device variables, the
      # collectives' ordering tokens (`sync_sum`).
      self.devices = tuple(strategy.extended.worker_devices)
      for device in self.devices:
        with tf.device(device):
          self._tokens.append(tf.Variable(0.0, trainable=False, name="collective_order"))

  @property
  def num_replicas(self) -> int:
    return 1 if self.strategy is None else self.strategy.num_replicas_in_sync

  @contextlib.contextmanager
  def scope(self):
    """Create the model and its optimizer slots in here (mirrored variables).

    A model built in here finds this distribution with `active`.
    """
    if self.strategy is None:
      yield
      return
    _ACTIVE.append(self)
    try:
      with self.strategy.scope():
        yield
    finally:
      _ACTIVE.remove(self)

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

    def replica_step(batch_slice, *args):
      context = tf.distribute.get_replica_context()
      replica = int(tf.get_static_value(context.replica_id_in_sync_group))
      _LOCAL.state = _ReplicaState(
          distribution=self, replica=replica, size=replicas,
          token=tf.identity(self._tokens[replica].handle),
          offset=batch_slice[0, 0], total=batch_slice[0, 1])
      try:
        return step(*args)
      finally:
        _LOCAL.state = None

    @tf.function(autograph=False, reduce_retracing=True)
    def run(batch_slice, *args):
      outputs = strategy.run(replica_step, args=(batch_slice, *args))
      return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], outputs)

    def call(*args):
      batch, rest = args[:num_batch_args], args[num_batch_args:]
      if len(batch[0]) < replicas:
        raise ValueError(f"a batch of {len(batch[0])} cannot be split over {replicas} replicas")
      bounds = np.linspace(0, len(batch[0]), replicas + 1).round().astype(int)
      split = [_split(strategy, np.asarray(a), bounds) for a in batch]
      where = np.stack([bounds[:-1], np.full(replicas, bounds[-1])], axis=1).astype(np.int32)
      batch_slice = _split(strategy, where, np.arange(replicas + 1))
      return run(batch_slice, *split, *(tf.convert_to_tensor(r) for r in rest))

    return call


def active() -> Distribution | None:
  """The distribution whose `Distribution.scope` is entered (innermost), if any."""
  return _ACTIVE[-1] if _ACTIVE else None


_ACTIVE: list[Distribution] = []
# Collective instance keys handed out, per replica index, in this process: TF
# caches an instance's shape by its key, so every call site of every traced
# function gets its own (the same on every replica: same code, same order).
# Instance keys are one namespace per process, shared with TF's own
# collectives (which count up from small numbers): ours start high.
_KEYS_ISSUED: collections.Counter = collections.Counter()
_FIRST_KEY = 1 << 30
_LOCAL = threading.local()


@dataclasses.dataclass
class _ReplicaState:
  """What a replica's step knows while it is traced (`wrap_step`)."""

  distribution: Distribution
  replica: int
  size: int
  token: tf.Tensor
  offset: tf.Tensor  # where this replica's slice starts in the global batch
  total: tf.Tensor   # the global batch size

  @property
  def device(self) -> str:
    return self.distribution.devices[self.replica]

  def next_keys(self) -> int:
    """Two fresh instance keys (forward, backward): the first is returned."""
    _KEYS_ISSUED[self.replica] += 2
    return _FIRST_KEY + _KEYS_ISSUED[self.replica] - 2


def _state() -> _ReplicaState | None:
  return getattr(_LOCAL, "state", None)


def sync_sum(values: Sequence[tf.Tensor]) -> list[tf.Tensor]:
  """`values` summed over the replicas; usable inside ``tf.switch_case``.

  With one replica (or outside a `wrap_step` step) the values themselves,
  or the strategy's own all-reduce where one is possible. Differentiable:
  the gradient of the sum is the sum of the gradients (all-reduced too).
  """
  state = _state()
  if state is None:
    return list(replica_sum(list(values))) if _replicas() > 1 else list(values)
  return [_collective_sum(v, state) for v in values]


def _collective_sum(value: tf.Tensor, state: _ReplicaState) -> tf.Tensor:
  key = state.next_keys()

  def reduce(v, instance_key, token):
    with tf.device(state.device):
      return tf.raw_ops.CollectiveReduceV2(
          input=v, group_size=state.size, group_key=_GROUP_KEY, instance_key=instance_key,
          ordering_token=[token], merge_op="Add", final_op="Id",
          timeout_seconds=COLLECTIVE_TIMEOUT_SECONDS)

  @tf.custom_gradient
  def summed(v):
    # Taken in this graph (a branch), so the gradient refers to it.
    token = tf.identity(state.token)
    return reduce(v, key, token), lambda upstream: reduce(upstream, key + 1, token)

  return summed(value)


def unroll_loops() -> bool:
  """True while a step of several replicas is traced: collectives cannot run
  inside ``tf.while_loop``, so loops over a model's parts are unrolled."""
  state = _state()
  return state is not None and state.size > 1


def global_batch_uniform(seed: tf.Tensor) -> Callable[..., tf.Tensor]:
  """A ``uniform_sampler`` for ``tf.nn.experimental.general_dropout``: the
  uniform noise one device would draw with `seed` for the GLOBAL batch,
  this replica's rows of it (the plain draw with one replica)."""
  state = _state()

  def sample(shape, dtype):
    if state is None or state.size == 1:
      return tf.random.stateless_uniform(shape, seed=seed, dtype=dtype)
    shape = tf.convert_to_tensor(shape)
    noise = tf.random.stateless_uniform(tf.concat([[state.total], shape[1:]], 0), seed=seed, dtype=dtype)
    return noise[state.offset:state.offset + shape[0]]

  return sample


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
