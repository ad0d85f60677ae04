"""Specification of the ENAS image family registry (Pham et al. 2018 §2.3, §2.4)."""

import pytest

from controller.errors import ConfigError
from enas.image import families
from enas.macro import final_model as macro_final
from enas.macro import space as macro_space
from enas.macro import supergraph as macro_supergraph
from enas.micro import final_model as micro_final
from enas.micro import space as micro_space
from enas.micro import supergraph as micro_supergraph


def test_each_name_finds_its_familys_own_parts():
  macro, micro = families.get("macro"), families.get("micro")
  assert (macro.name, macro.space_name) == ("macro", "enas_macro")
  assert (micro.name, micro.space_name) == ("micro", "enas_micro")
  assert macro.make_space is macro_space.macro_space
  assert micro.make_space is micro_space.micro_space
  assert macro.make_supergraph is macro_supergraph.MacroSupergraph
  assert micro.make_supergraph is micro_supergraph.MicroSupergraph
  assert macro.build_final_model is macro_final.build_macro_final
  assert micro.build_final_model is micro_final.build_micro_final
  assert families.names() == ("macro", "micro")


def test_an_unknown_name_is_a_config_error():
  with pytest.raises(ConfigError, match="'nope'"):
    families.get("nope")


def test_an_architecture_finds_its_family_which_describes_it():
  macro = macro_space.macro_space(24).parse(macro_space.PAPER_MACRO_ARC)
  micro = micro_space.micro_space().parse(micro_space.PAPER_MICRO_ARC)
  assert families.of_architecture(macro).name == "macro"
  assert families.of_architecture(micro).name == "micro"
  lines = families.of_architecture(micro).decode(micro).describe()
  assert lines[:2] == ["normal cell:",
                       "  node 2 = avg_pool3x3(0) + sep_conv3x3(0)"]
  lines = families.of_architecture(macro).decode(macro).describe()
  assert lines[1] == "layer 2 = sep_conv5x5(1) skips from: none"


def test_the_spaces_come_from_gin_configured_factories():
  space = families.get("micro").make_space(num_nodes=3)
  assert space.name == "enas_micro" and space.meta("num_nodes") == 3
