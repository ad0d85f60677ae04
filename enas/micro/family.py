"""The ENAS micro family (Pham et al. 2018, §2.4) for `enas.image.families`.

What the shared search and final-training code needs of the micro family,
and how a `FinalTrainingConfig` reads here: ``num_nodes`` (when set) is the
cells' node count, else it comes from the architecture's length;
``num_layers`` is N normal cells (15, the official final run, when unset);
the auxiliary head is on when its loss has a weight; ``micro_cell_output``
is the cells' layout (official 'concat', or 'conv1x1').
"""

from __future__ import annotations

from typing import Any

from controller.errors import ConfigError
from controller.search_space import Architecture, SearchSpace
from enas.image import families
from enas.micro import cost
from enas.micro import final_model
from enas.micro import space as space_lib
from enas.micro import supergraph

SEARCH_NODES = 5
"""Nodes per cell of the official micro search and final run."""

FINAL_LAYERS = 15
"""Normal cells N of the official micro final run."""


def _parse_final_arc(arc: Any, config: Any) -> Architecture:
  if isinstance(arc, Architecture) or not config.num_nodes:
    return space_lib.as_micro_architecture(arc)
  space = space_lib.micro_space(num_nodes=config.num_nodes)
  if isinstance(arc, str):
    return space.parse(arc)
  return space.from_tokens([int(t) for t in arc])


def _final_space(config: Any) -> SearchSpace:
  return space_lib.micro_space(config.num_nodes or SEARCH_NODES)


def _final_settings(config: Any) -> dict[str, Any]:
  if config.micro_cell_output not in final_model.CELL_OUTPUTS:
    raise ConfigError(
        f"FinalTrainingConfig.micro_cell_output must be one of "
        f"{', '.join(final_model.CELL_OUTPUTS)}, got "
        f"{config.micro_cell_output!r}")
  return dict(
      num_layers=FINAL_LAYERS if config.num_layers is None
      else config.num_layers,
      out_filters=config.out_filters, keep_prob=config.keep_prob,
      aux_head=config.aux_weight > 0,
      drop_path_keep_prob=config.drop_path_keep_prob,
      cell_output=config.micro_cell_output)


FAMILY = families.ImageFamily(
    name="micro",
    space_name=space_lib.MICRO_SPACE_NAME,
    make_space=space_lib.micro_space,
    decode=space_lib.decode_micro,
    make_supergraph=supergraph.MicroSupergraph,
    build_final_model=final_model.build_micro_final,
    parse_final_arc=_parse_final_arc,
    final_space=_final_space,
    final_settings=_final_settings,
    search_cost=cost.supergraph_cost,
)
