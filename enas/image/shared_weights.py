"""ENAS shared-weight evaluation for images (Pham et al. 2018, §2.1-2.4, §3.2).

The evaluator `runner.loop` runs for ``make_experiment.mode = 'enas'``. One
supergraph holds every child's weights (the macro or micro family's, by
`EnasConfig.space`). A round of the loop is an epoch:

1. `ImageSharedWeights.start_round`, shared-weight training: one pass over
   the training set, a fresh architecture sampled from the strategy for every
   minibatch (the Monte Carlo estimate with M = 1 of §2.1), Nesterov SGD with
   a cosine learning rate with warm restarts (T_0 = 10 epochs, T_mul = 2 in
   the official scripts).
2. The loop's controller updates; `evaluate` gives each sampled
   architecture its reward: its accuracy on one validation minibatch with the
   shared weights (§2.2), with its cost (`cost`: ``params`` and ``flops``
   of its own weights at the search settings). As the official code (melodyguan/enas 4bcfd73,
   ``build_valid_rl``), the minibatch is the search batch size (128 macro,
   160 micro) of un-augmented validation images, and the micro reward runs
   the child in training mode (dropout on: ``micro_child._model`` forces
   ``is_training=True`` while searching), the macro one not
   (`EnasConfig.reward_training`).

The round's record (``rounds.jsonl`` under ``evaluator``) has the mean
training loss and accuracy, the mean global gradient norm before clipping
(``grad_norm``), the mean largest per-tensor norm (``max_grad_norm``) and
the fraction of steps whose gradients the clip changed (``clip_fraction``),
to see whether clipping bites.

Deriving (§2.2): the loop samples `derive_samples` architectures and
`score` measures each on one validation minibatch (the paper) or on the
whole validation set; retrain the best from scratch with
``experiments.train_final``. These are search-phase scores (``phase:
shared_weights`` in every record), never retrained accuracies.

The state (`state`) holds the shared weights, their momentum slots and the
dropout stream, so a resumed search equals an uninterrupted one; the data
order, augmentation and reward minibatches of epoch e come from a generator
seeded by ``(seed, e)``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import gin
import numpy as np

from child import datasets as _datasets  # noqa: F401  (registers OwnImagesConfig for gin bindings)
from child import progress
from controller import config_check
from controller import errors
from controller import search_space as ss
from enas import checkpoint
from enas.image import distribute
from enas.image import families
from enas.schedules import cosine_lr


@gin.configurable
@dataclasses.dataclass(frozen=True)
class EnasConfig:
  """ENAS image search settings (defaults: the official micro search).

  The budget (epochs = `SearchBudget.rounds`, controller updates per epoch,
  architectures per update) is `runner.loop.SearchBudget`'s; the
  supergraph's own settings are its gin parameters.

  Attributes:
    space: 'macro' or 'micro'.
    dataset: an image data set name of `child.datasets`.
    data_dir: where its files are (None: the usual places).
    num_valid: validation images held out of the training set.
    valid_split: 'last' (official) or 'random'.
    max_train: keep only this many training images (CPU budgets).
    batch_size: shared-weight minibatch size.
    eval_batch_size: validation minibatch for a controller reward (and a
      derive score on one minibatch); the official code uses the search
      batch size (``build_valid_rl``: 128 macro, 160 micro).
    max_steps_per_epoch: cap on shared-weight steps per epoch (None: all).
    lr_max: cosine schedule maximum.
    lr_min: cosine schedule minimum.
    lr_t0: first cosine period, in epochs.
    lr_tmul: period multiplier at each restart.
    augment: random 4-pixel-padded crops and horizontal flips.
    derive_samples: architectures scored when deriving.
    derive_on: 'minibatch' (the paper) or 'validation' (the whole set).
    reward_training: run the child in training mode (dropout on) for every
      shared-weight score (rewards, derive). Official: True for micro
      (``micro_child._model`` sets ``is_training=True`` when searching),
      False for macro (``general_child.build_valid_rl``). Batch norm uses
      batch statistics either way here (the official macro reward used the
      moving averages).
    clip_mode: the shared step's gradient clip at the supergraph's
      ``grad_bound`` (`enas.image.ops.clip_gradients`): 'norm' (per tensor:
      what the official ``clip_mode="norm"`` meant), 'global' (global norm)
      or 'none' (what the official code did: its clip was a no-op).
  """

  space: str = "micro"
  dataset: str = "cifar10"
  data_dir: str | None = None
  num_valid: int = 5000
  valid_split: str = "last"
  max_train: int | None = None
  batch_size: int = 160
  eval_batch_size: int = 160
  max_steps_per_epoch: int | None = None
  lr_max: float = 0.05
  lr_min: float = 5e-4
  lr_t0: float = 10.0
  lr_tmul: float = 2.0
  augment: bool = True
  derive_samples: int = 10
  derive_on: str = "minibatch"
  reward_training: bool = True
  clip_mode: str = "norm"

  def __post_init__(self):
    from enas.image import ops  # pylint: disable=g-import-not-at-top
    config_check.check(
        self, positive=("num_valid", "max_train", "batch_size",
                        "eval_batch_size", "max_steps_per_epoch", "lr_t0",
                        "lr_tmul", "derive_samples"),
        non_negative=("lr_max", "lr_min"),
        choices={"valid_split": ("last", "random")})
    families.get(self.space, "EnasConfig.space")  # one line otherwise
    ops.check_clip_mode(self.clip_mode, "EnasConfig.clip_mode")
    if self.derive_on not in ("minibatch", "validation"):
      raise errors.ConfigError(
          f"EnasConfig.derive_on must be 'minibatch' or 'validation', not "
          f"{self.derive_on!r}")


# The shared step's gradient figures averaged over an epoch (`start_round`).
_GRAD_STATS = ("grad_norm", "max_grad_norm", "clipped")


def _augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  n, h, w, _ = images.shape
  padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
  out = np.empty_like(images)
  ys = rng.integers(0, 9, n)
  xs = rng.integers(0, 9, n)
  flips = rng.random(n) < 0.5
  for i in range(n):
    crop = padded[i, ys[i]:ys[i] + h, xs[i]:xs[i] + w]
    out[i] = crop[:, ::-1] if flips[i] else crop
  return out


class ImageSharedWeights:
  """Shared-weight training and rewards for the macro and micro spaces.

  See the module doc; the attributes are `runner.loop.Evaluator`'s.
  """

  phase = "shared_weights"
  round_name = "epoch"
  reuses_finished = False
  log_each_sample = False

  def __init__(self, config: EnasConfig, seed: int, data=None, model=None):
    """Loads the data and builds the space and its supergraph.

    Args:
      config: the settings.
      seed: seeds the weights, the dropout stream and the data order.
      data: an `child.datasets.ImageDataset` (None: load `config.dataset`).
      model: the supergraph (None: the family's, as gin configures it).
    """
    import keras  # pylint: disable=g-import-not-at-top
    from child import datasets  # pylint: disable=g-import-not-at-top
    self.config = config
    self.seed = seed
    self.data = data or datasets.load_image_dataset(
        config.dataset, data_dir=config.data_dir, num_valid=config.num_valid,
        valid_split=config.valid_split, max_train=config.max_train, seed=seed)
    if not len(self.data.x_valid):
      raise errors.ConfigError("EnasConfig.num_valid must be positive: the "
                               "rewards are validation accuracies")
    keras.utils.set_random_seed(seed)
    self.family = families.get(config.space)
    self.kind = f"enas_{config.space}"
    self.space = self.family.make_space()
    if model is None:
      # `DistributeConfig` (gin): one device, or the step data parallel on
      # several (`enas.image.distribute`; equal results at the same batch).
      with distribute.DistributeConfig().make().scope():
        model = self.family.make_supergraph(
            self.space, input_shape=self.data.input_shape,
            num_classes=self.data.num_classes)
    self.model = model
    self.model.clip_mode = config.clip_mode
    self.derive_samples = config.derive_samples
    self.derive_on = config.derive_on
    n_train = len(self.data.x_train)
    self.steps = math.ceil(n_train / config.batch_size)
    if config.max_steps_per_epoch:
      self.steps = min(self.steps, config.max_steps_per_epoch)
    self._rng = np.random.default_rng([seed, 0])

  # ---------------------------------------------------------- the rounds
  def start_round(self, round_index: int, first_sample: int,
                  strategy) -> dict[str, Any]:
    """One epoch of shared-weight training (§2.2, first phase)."""
    del first_sample
    config, data = self.config, self.data
    self._rng = rng = np.random.default_rng([self.seed, round_index])
    order = rng.permutation(len(data.x_train))
    losses, accs, stats = [], [], []
    lr = config.lr_max
    for step in progress.track(range(self.steps), "shared step", unit="step"):
      index = order[step * config.batch_size:(step + 1) * config.batch_size]
      images = data.x_train[index]
      if config.augment:
        images = _augment(images, rng)
      lr = cosine_lr(round_index + step / self.steps, config.lr_max,
                     config.lr_min, config.lr_t0, config.lr_tmul)
      arc = strategy.ask(1)[0].arc
      out = self.model.train_step(images, data.y_train[index], arc.tokens, lr)
      losses.append(float(out["loss"]))
      accs.append(float(out["accuracy"]))
      stats.append([float(out[k]) for k in _GRAD_STATS])
    if not all(math.isfinite(x) for x in losses):
      raise FloatingPointError(
          f"shared-weight loss became non-finite in epoch {round_index}; "
          "lower EnasConfig.lr_max")
    grad_norm, max_grad_norm, clip_fraction = np.mean(stats, axis=0)
    return {"lr": lr, "train_loss": float(np.mean(losses)),
            "train_accuracy": float(np.mean(accs)),
            "grad_norm": float(grad_norm),
            "max_grad_norm": float(max_grad_norm),
            "clip_fraction": float(clip_fraction)}

  def evaluate(self, jobs: Sequence[Any]):
    """Each architecture's accuracy on one validation minibatch (§2.2)."""
    for job in jobs:
      accuracy = minibatch_accuracy(self.model, self.data, job.arc, self._rng,
                                    self.config.eval_batch_size,
                                    self.config.reward_training)
      yield job.slot, {"status": "ok", "reward": accuracy,
                       "valid_accuracy": accuracy, **self.cost(job.arc)}

  def score(self, arc: ss.Architecture, rng: np.random.Generator
            ) -> dict[str, Any]:
    """The derive score: one minibatch (the paper) or the validation set."""
    if self.derive_on == "validation":
      accuracy = validation_accuracy(self.model, self.data, arc,
                                     training=self.config.reward_training)
    else:
      accuracy = minibatch_accuracy(self.model, self.data, arc, rng,
                                    self.config.eval_batch_size,
                                    self.config.reward_training)
    return {"reward": accuracy, "valid_accuracy": accuracy, **self.cost(arc)}

  def cost(self, arc: ss.Architecture) -> dict[str, int]:
    """``params`` and ``flops`` of `arc`'s own weights at the search
    settings (the family's ``search_cost``: analytic, no model is built)."""
    return self.family.search_cost(arc, self.model)

  def parse(self, text: str) -> ss.Architecture:
    return self.space.parse(text)

  def describe(self, arc: ss.Architecture) -> list[str]:
    return self.family.decode(arc).describe()

  # ----------------------------------------------------------- the state
  def state(self) -> dict[str, np.ndarray]:
    return checkpoint.variables_state(self.model.checkpoint_variables())

  def load_state(self, arrays: dict[str, np.ndarray]) -> None:
    checkpoint.restore_variables(self.model.checkpoint_variables(), arrays)

  def close(self) -> None:
    pass


def minibatch_accuracy(model, data, arc, rng, batch_size,
                       training: bool = False) -> float:
  """Accuracy of `arc` with the shared weights on one random validation
  minibatch (dropout on if `training`)."""
  index = rng.choice(len(data.x_valid), size=min(batch_size,
                                                 len(data.x_valid)),
                     replace=False)
  return float(model.eval_accuracy(data.x_valid[index], data.y_valid[index],
                                   arc.tokens, training))


def validation_accuracy(model, data, arc, batch_size: int = 500, *,
                        training: bool = False) -> float:
  """Accuracy of `arc` with the shared weights on the whole validation set
  (dropout on if `training`)."""
  correct = 0.0
  for start in range(0, len(data.x_valid), batch_size):
    images = data.x_valid[start:start + batch_size]
    acc = float(model.eval_accuracy(images, data.y_valid[start:start
                                                         + batch_size],
                                    arc.tokens, training))
    correct += acc * len(images)
  return correct / len(data.x_valid)
