"""Specification of `controller.gin_modules`: registries import on demand."""

import sys

import gin
import pytest

from controller import gin_modules


def test_a_module_chosen_after_parsing_may_register_configurables(tmp_path,
                                                                  monkeypatch):
  (tmp_path / "late_family.py").write_text(
      "import gin\n\n@gin.configurable\ndef late_setting(x=1):\n  return x\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  gin.clear_config()
  gin.finalize()  # as parsing the files does: the configuration is locked
  try:
    with pytest.raises(RuntimeError, match="locked"):
      __import__("late_family")  # a plain import may not register
    sys.modules.pop("late_family", None)
    module = gin_modules.import_module("late_family")
    assert module.late_setting() == 1
  finally:
    sys.modules.pop("late_family", None)
    gin.clear_config()
