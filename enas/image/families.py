"""The ENAS image families by name: macro (§2.3) and micro (§2.4).

Pham et al. 2018 search two image spaces: whole networks (macro, §2.3) and
a normal and a reduction cell (micro, §2.4). Each family lives in its own
home (``enas/macro``, ``enas/micro``: space, op table, supergraph, final
model) and describes itself there as an `ImageFamily` (``FAMILY`` in its
``family`` module). Code outside a home asks this registry instead of
branching on the family's name:

  family = families.get(config.space)
  space = family.make_space()
  model = family.make_supergraph(space, input_shape=..., num_classes=...)
  lines = families.of_architecture(arc).decode(arc).describe()

A family's module is imported when it is first asked for.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from controller import gin_modules
from controller.errors import ConfigError
from controller.search_space import Architecture, SearchSpace

_HOMES = {"macro": "enas.macro.family", "micro": "enas.micro.family"}
"""Family name -> the module holding its ``FAMILY``."""


@dataclasses.dataclass(frozen=True)
class ImageFamily:
  """One ENAS image family, as the shared code sees it.

  Attributes:
    name: 'macro' or 'micro' (`EnasConfig.space`,
      `FinalTrainingConfig.space`).
    space_name: its spaces' `SearchSpace.name` ('enas_macro', 'enas_micro').
    make_space: ``make_space(**size) -> SearchSpace``, gin-configured
      (`macro_space`, `micro_space`).
    decode: architecture (any accepted form) -> `MacroArc` / `MicroArc`,
      whose ``describe()`` gives readable lines.
    make_supergraph: ``make_supergraph(space, *, input_shape, num_classes)``
      -> the shared-weight model (`MacroSupergraph`, `MicroSupergraph`).
    build_final_model: ``build_final_model(arc, *, input_shape, num_classes,
      **settings)`` -> the final model (`build_macro_final`,
      `build_micro_final`).
    parse_final_arc: ``(arc, final config) -> Architecture``: text, tokens or
      an `Architecture`, the space's size from the arc's length.
    final_space: ``(final config) -> SearchSpace``: the space random final
      architectures are drawn from.
    final_settings: ``(final config) -> dict``: the keyword settings of
      ``build_final_model`` that a `FinalTrainingConfig` gives.
    search_cost: ``(arc, supergraph) -> {'params', 'flops'}``: the cost of
      the architecture's own weights at the supergraph's settings, counted
      analytically (`enas.macro.cost`, `enas.micro.cost`).
  """

  name: str
  space_name: str
  make_space: Callable[..., SearchSpace]
  decode: Callable[[Any], Any]
  make_supergraph: Callable[..., Any]
  build_final_model: Callable[..., Any]
  parse_final_arc: Callable[[Any, Any], Architecture]
  final_space: Callable[[Any], SearchSpace]
  final_settings: Callable[[Any], dict[str, Any]]
  search_cost: Callable[[Architecture, Any], dict[str, int]]


def names() -> tuple[str, ...]:
  """The family names, as `get` accepts them."""
  return tuple(_HOMES)


def get(name: str, setting: str | None = None) -> ImageFamily:
  """The family called `name` ('macro' or 'micro').

  Args:
    name: the family's name.
    setting: the gin setting `name` came from, named in the error.

  Raises:
    ConfigError: no family has that name.
  """
  if name not in _HOMES:
    if setting:
      raise ConfigError(f"{setting} must be one of {', '.join(_HOMES)}, "
                        f"not {name!r}")
    raise ConfigError(f"unknown ENAS image space {name!r}: expected one of "
                      f"{', '.join(_HOMES)}")
  return gin_modules.import_module(_HOMES[name]).FAMILY


def of_architecture(arc: Architecture) -> ImageFamily:
  """The family whose space `arc` belongs to (by ``arc.space.name``).

  Raises:
    ConfigError: `arc` is of no ENAS image family's space.
  """
  for name in _HOMES:
    family = get(name)
    if family.space_name == arc.space.name:
      return family
  raise ConfigError(
      f"no ENAS image family has the space {arc.space.name!r}")
