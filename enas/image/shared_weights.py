"""ENAS search for images (Pham et al. 2018, §2.1-2.4 and §3.2).

One supergraph holds every child's weights. Each epoch:

1. Shared-weight training: one pass over the training set, a fresh
   architecture sampled from the controller for every minibatch (the Monte
   Carlo estimate with M = 1 of §2.1), Nesterov SGD with a cosine learning rate
   with warm restarts (T_0 = 10 epochs, T_mul = 2 in the official scripts).
2. Controller training: `controller_steps` REINFORCE updates, each over
   `controller_aggregate` sampled architectures whose reward is their accuracy
   on one validation minibatch with the shared weights (§2.2).

After the last epoch, `derive_samples` architectures are sampled and scored
with the shared weights (on one validation minibatch, as the paper, or on the
whole validation set), and the best goes to ``best.json`` (§2.2, "Deriving
architectures"); retrain it from scratch with ``experiments.train_final``.

Run directory: ``epochs.jsonl`` (one line per finished epoch: train loss and
accuracy, mean sampled validation accuracy, controller entropy, baseline, the
best sampled architectures), ``state.json`` + ``state-<epoch>.npz``
(supergraph weights, momentum slots, controller state; written atomically
after each epoch), ``best.json``. ``--resume`` continues after the last
finished epoch. Dropout's random stream is not part of the state, so a
resumed run matches an uninterrupted one in its data order and architecture
samples but not bit for bit in its weights.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any, Callable

import gin
import numpy as np

from controller import strategy as strategy_lib
from enas.schedules import cosine_lr
from controller import errors
from runner import run_dir as run_dir_lib


@gin.configurable
@dataclasses.dataclass(frozen=True)
class EnasConfig:
  """ENAS image search settings (defaults: the official micro search).

  Attributes:
    space: 'macro' or 'micro'.
    dataset: an image data set name of `child.datasets`.
    data_dir: where its files are (None: the usual places).
    num_valid: validation images held out of the training set.
    valid_split: 'last' (official) or 'random'.
    max_train: keep only this many training images (CPU budgets).
    batch_size: shared-weight minibatch size.
    eval_batch_size: validation minibatch for a controller reward.
    epochs: search epochs.
    max_steps_per_epoch: cap on shared-weight steps per epoch (None: all).
    lr_max: cosine schedule maximum.
    lr_min: cosine schedule minimum.
    lr_t0: first cosine period, in epochs.
    lr_tmul: period multiplier at each restart.
    augment: random 4-pixel-padded crops and horizontal flips.
    controller_steps: controller updates per epoch.
    controller_aggregate: sampled architectures per controller update.
    derive_samples: architectures scored when deriving.
    derive_on: 'minibatch' (the paper) or 'validation' (the whole set).
  """

  space: str = "micro"
  dataset: str = "cifar10"
  data_dir: str | None = None
  num_valid: int = 5000
  valid_split: str = "last"
  max_train: int | None = None
  batch_size: int = 160
  eval_batch_size: int = 100
  epochs: int = 150
  max_steps_per_epoch: int | None = None
  lr_max: float = 0.05
  lr_min: float = 5e-4
  lr_t0: float = 10.0
  lr_tmul: float = 2.0
  augment: bool = True
  controller_steps: int = 30
  controller_aggregate: int = 10
  derive_samples: int = 10
  derive_on: str = "minibatch"

  def __post_init__(self):
    if self.space not in ("macro", "micro"):
      raise errors.ConfigError(
          f"EnasConfig.space must be 'macro' or 'micro', not {self.space!r} "
          "(the recurrent cell is run_search.mode = 'enas_rnn')")
    if self.derive_on not in ("minibatch", "validation"):
      raise errors.ConfigError(
          f"EnasConfig.derive_on must be 'minibatch' or 'validation', not "
          f"{self.derive_on!r}")


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


def build_space_and_supergraph(config: EnasConfig, input_shape, num_classes):
  """The search space and its supergraph, as gin configures them."""
  from enas.image import spaces as image_spaces  # pylint: disable=g-import-not-at-top
  if config.space == "macro":
    from enas.macro import supergraph as macro_supergraph  # pylint: disable=g-import-not-at-top
    space = image_spaces.macro_space()
    model = macro_supergraph.MacroSupergraph(
        space, input_shape=input_shape, num_classes=num_classes)
  elif config.space == "micro":
    from enas.micro import supergraph as micro_supergraph  # pylint: disable=g-import-not-at-top
    space = image_spaces.micro_space()
    model = micro_supergraph.MicroSupergraph(
        space, input_shape=input_shape, num_classes=num_classes)
  else:
    raise errors.ConfigError(f"unknown ENAS space {config.space!r}")
  return space, model


def _weights(model) -> list[Any]:
  return list(model.weights) + list(model._sgd.slots)  # pylint: disable=protected-access


def run_enas_search(run: run_dir_lib.RunDir, seed: int, resumed: bool,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
  """Runs (or resumes) an ENAS image search in `run`; returns best.json."""
  import keras  # pylint: disable=g-import-not-at-top
  from child import datasets  # pylint: disable=g-import-not-at-top
  config = EnasConfig()
  data = datasets.load_image_dataset(
      config.dataset, data_dir=config.data_dir, num_valid=config.num_valid,
      valid_split=config.valid_split, max_train=config.max_train, seed=seed)
  keras.utils.set_random_seed(seed)
  space, model = build_space_and_supergraph(config, data.input_shape,
                                            data.num_classes)
  strategy = strategy_lib.make_strategy(space, seed)
  start_epoch = 0
  saved = run.load_state() if resumed else None
  if saved is not None:
    info, arrays = saved
    for i, var in enumerate(_weights(model)):
      var.assign(arrays[f"weight_{i}"])
    strategy.load_state({k[len("strategy/"):]: v for k, v in arrays.items()
                         if k.startswith("strategy/")})
    start_epoch = info["step"] + 1
    log(f"resuming after epoch {start_epoch - 1}")
  n_train = len(data.x_train)
  steps = math.ceil(n_train / config.batch_size)
  if config.max_steps_per_epoch:
    steps = min(steps, config.max_steps_per_epoch)
  started = time.time()
  for epoch in range(start_epoch, config.epochs):
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n_train)
    losses, accs = [], []
    for step in range(steps):
      index = order[step * config.batch_size:(step + 1) * config.batch_size]
      images = data.x_train[index]
      if config.augment:
        images = _augment(images, rng)
      lr = cosine_lr(epoch + step / steps, config.lr_max, config.lr_min,
                     config.lr_t0, config.lr_tmul)
      arc = strategy.ask(1)[0].arc
      out = model.train_step(images, data.y_train[index], arc.tokens, lr)
      losses.append(float(out["loss"]))
      accs.append(float(out["accuracy"]))
    if not all(math.isfinite(x) for x in losses):
      raise FloatingPointError(
          f"shared-weight loss became non-finite in epoch {epoch}; lower "
          "EnasConfig.lr_max")
    rewards_seen, entropies, sampled = [], [], []
    metrics: dict[str, float] = {}
    for _ in range(config.controller_steps):
      samples = strategy.ask(config.controller_aggregate)
      rewards = [_minibatch_accuracy(model, data, s.arc, rng,
                                     config.eval_batch_size) for s in samples]
      metrics = strategy.tell(samples, rewards)
      rewards_seen += rewards
      entropies += [s.entropy for s in samples]
      sampled += [(r, s.arc.to_string()) for r, s in zip(rewards, samples)]
    sampled.sort(key=lambda pair: -pair[0])
    record = {
        "epoch": epoch, "lr": lr,
        "train_loss": float(np.mean(losses)),
        "train_accuracy": float(np.mean(accs)),
        "mean_sampled_valid_accuracy": float(np.mean(rewards_seen))
        if rewards_seen else None,
        "controller_entropy": float(np.mean(entropies)) if entropies else None,
        "baseline": metrics.get("baseline"),
        "best_sampled": [{"valid_accuracy": r, "arc": a}
                         for r, a in sampled[:3]],
        "seconds": time.time() - started}
    _append_jsonl(run.file("epochs.jsonl"), record)
    arrays = {f"weight_{i}": np.asarray(v) for i, v in enumerate(
        _weights(model))}
    arrays.update({f"strategy/{k}": v for k, v in strategy.state().items()})
    run.save_state(epoch, arrays, {"kind": "enas", "epoch": epoch})
    log(f"epoch {epoch + 1}/{config.epochs}: train loss {record['train_loss']:.4f} "
        f"acc {record['train_accuracy']:.4f} | sampled valid acc "
        f"{record['mean_sampled_valid_accuracy'] or 0:.4f} | entropy "
        f"{record['controller_entropy'] or 0:.2f} baseline "
        f"{record['baseline'] or 0:.4f} | lr {lr:.4f} | "
        f"{record['seconds']:.0f}s" + (
            f"\n  best sampled: {sampled[0][1]} ({sampled[0][0]:.3f})"
            if sampled else ""))
  best = derive(model, strategy, data, config, seed)
  run.write_best(best)
  return best


def _minibatch_accuracy(model, data, arc, rng, batch_size) -> float:
  index = rng.choice(len(data.x_valid), size=min(batch_size,
                                                 len(data.x_valid)),
                     replace=False)
  return float(model.eval_accuracy(data.x_valid[index], data.y_valid[index],
                                   arc.tokens))


def validation_accuracy(model, data, arc, batch_size: int = 500) -> float:
  """Accuracy of `arc` with the shared weights on the whole validation set."""
  correct = 0.0
  for start in range(0, len(data.x_valid), batch_size):
    images = data.x_valid[start:start + batch_size]
    acc = float(model.eval_accuracy(images, data.y_valid[start:start
                                                         + batch_size],
                                    arc.tokens))
    correct += acc * len(images)
  return correct / len(data.x_valid)


def derive(model, strategy, data, config: EnasConfig, seed: int
           ) -> dict[str, Any]:
  """Samples `derive_samples` architectures and keeps the best (§2.2)."""
  rng = np.random.default_rng([seed, 10**6])
  scored = []
  for sample in strategy.ask(config.derive_samples):
    if config.derive_on == "validation":
      score = validation_accuracy(model, data, sample.arc)
    elif config.derive_on == "minibatch":
      score = _minibatch_accuracy(model, data, sample.arc, rng,
                                  config.eval_batch_size)
    else:
      raise ValueError(f"derive_on must be 'minibatch' or 'validation', "
                       f"not {config.derive_on!r}")
    scored.append((score, sample.arc))
  return best_of(scored, config.derive_on)


def best_of(scored, derived_on: str) -> dict[str, Any]:
  """best.json for the highest-scoring (score, architecture) pair."""
  from enas.image import spaces as image_spaces  # pylint: disable=g-import-not-at-top
  score, arc = max(scored, key=lambda pair: pair[0])
  decode = (image_spaces.decode_micro
            if arc.space.name == image_spaces.MICRO_SPACE_NAME
            else image_spaces.decode_macro)
  return {"arc": arc.to_string(), "space": arc.space.name, "reward": score,
          "description": decode(arc).describe(),
          "valid_accuracy": score, "derived_on": derived_on,
          "candidates": [{"arc": a.to_string(), "valid_accuracy": s}
                         for s, a in scored],
          "decisions": arc.values()}


def _append_jsonl(path: str, record: dict[str, Any]) -> None:
  with open(path, "a") as f:
    f.write(json.dumps(record, sort_keys=True) + "\n")
    f.flush()
    os.fsync(f.fileno())
