"""Checks a config dataclass's values against its annotations and ranges.

A gin binding can give any field any value (``EnasConfig.batch_size =
'many'``, ``FinalTrainingConfig.epochs = -3``); the config classes call
`check` from ``__post_init__`` so that such a value is one `ConfigError`
line naming the setting, before anything is loaded or trained, and never a
traceback from deep inside a training loop.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Iterable

from controller.errors import ConfigError


def _allowed(annotation: Any) -> tuple[tuple[type, ...], bool]:
  """``(types, None allowed)`` of a field annotation (int, float, str, bool,
  tuples and their ``| None``); ``((), True)`` for anything else (unchecked)."""
  origin = typing.get_origin(annotation)
  if origin in (typing.Union, types.UnionType):
    kinds: tuple[type, ...] = ()
    optional = False
    for arg in typing.get_args(annotation):
      if arg is type(None):
        optional = True
      else:
        inner, _ = _allowed(arg)
        if not inner:
          return (), True
        kinds += inner
    return kinds, optional
  if origin is not None:
    annotation = origin
  if annotation in (int, float, str, bool, tuple, list, dict):
    return (annotation,), False
  return (), True


def _fits(value: Any, kinds: tuple[type, ...]) -> bool:
  for kind in kinds:
    if kind is float and isinstance(value, (int, float)) \
        and not isinstance(value, bool):
      return True
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
      return True
    if kind is bool and isinstance(value, bool):
      return True
    if kind in (str, dict) and isinstance(value, kind):
      return True
    if kind in (tuple, list) and isinstance(value, (tuple, list)):
      return True
  return False


def check(config: Any, *, positive: Iterable[str] = (),
          non_negative: Iterable[str] = (),
          unit: Iterable[str] = (), choices: dict[str, Iterable[Any]] | None = None
          ) -> None:
  """Raises `ConfigError` naming the first field of `config` that is unusable.

  Args:
    config: a dataclass instance; every field whose annotation is a plain
      type (or such a type ``| None``) must hold a value of that type (an
      int is a float; a bool is no number).
    positive: fields that must be > 0 (when not None).
    non_negative: fields that must be >= 0 (when not None).
    unit: fields that must lie in [0, 1] (when not None).
    choices: field -> its allowed values.
  """
  name = type(config).__name__
  hints = typing.get_type_hints(type(config))
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    kinds, optional = _allowed(hints.get(field.name, Any))
    if not kinds or (value is None and optional):
      continue
    if not _fits(value, kinds):
      expected = " or ".join(k.__name__ for k in kinds)
      if optional:
        expected += " or None"
      raise ConfigError(f"{name}.{field.name} must be {expected}, not "
                        f"{value!r}")
    if isinstance(value, float) and not math.isfinite(value):
      raise ConfigError(f"{name}.{field.name} must be finite, not {value!r}")
  for field in positive:
    value = getattr(config, field)
    if value is not None and not value > 0:
      raise ConfigError(f"{name}.{field} must be positive, not {value!r}")
  for field in non_negative:
    value = getattr(config, field)
    if value is not None and not value >= 0:
      raise ConfigError(f"{name}.{field} must be >= 0, not {value!r}")
  for field in unit:
    value = getattr(config, field)
    if value is not None and not 0 <= value <= 1:
      raise ConfigError(f"{name}.{field} must be in [0, 1], not {value!r}")
  for field, allowed in (choices or {}).items():
    allowed = tuple(allowed)
    if getattr(config, field) not in allowed:
      raise ConfigError(f"{name}.{field} must be one of {allowed}, not "
                        f"{getattr(config, field)!r}")
