"""Imports for registries that load a module by name on demand.

Gin files import the modules they bind; a registry (the task names of
`runner.tasks`, the ENAS image families, the search modes, the worker
backends) imports the module it chose only when it is asked for it, after
the configuration was parsed and locked. Such a module may register gin
configurables of its own (none of which the configuration binds: parsing
would have failed on an unknown name), so the import runs with the
configuration unlocked.
"""

from __future__ import annotations

import importlib
import types

import gin


def import_module(name: str) -> types.ModuleType:
  """Imports `name`; it may register gin configurables though gin is locked."""
  with gin.unlock_config():
    return importlib.import_module(name)
