"""The ENAS macro family (Pham et al. 2018, §2.3) for `enas.image.families`.

What the shared search and final-training code needs of the macro family,
and how a `FinalTrainingConfig` reads here: the final architecture's size
comes from its length (``num_layers``, when set, must match it), and the
macro final model has no auxiliary head and no drop path (as the official
one), so those settings are not its own.
"""

from __future__ import annotations

from typing import Any

from controller.search_space import Architecture, SearchSpace
from enas.image import families
from enas.macro import cost
from enas.macro import final_model
from enas.macro import space as space_lib
from enas.macro import supergraph

SEARCH_LAYERS = 12
"""Layers of the official macro search (the space of random final arcs)."""


def _parse_final_arc(arc: Any, config: Any) -> Architecture:
  del config  # num_layers is checked when the model is built
  return space_lib.as_macro_architecture(arc)


def _final_space(config: Any) -> SearchSpace:
  return space_lib.macro_space(config.num_layers or SEARCH_LAYERS)


def _final_settings(config: Any) -> dict[str, Any]:
  return dict(num_layers=config.num_layers, out_filters=config.out_filters,
              keep_prob=config.keep_prob)


FAMILY = families.ImageFamily(
    name="macro",
    space_name=space_lib.MACRO_SPACE_NAME,
    make_space=space_lib.macro_space,
    decode=space_lib.decode_macro,
    make_supergraph=supergraph.MacroSupergraph,
    build_final_model=final_model.build_macro_final,
    parse_final_arc=_parse_final_arc,
    final_space=_final_space,
    final_settings=_final_settings,
    search_cost=cost.supergraph_cost,
)
