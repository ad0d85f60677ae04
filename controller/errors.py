"""Error types that mean "the user asked for something unusable".

The binaries (`experiments.cli.user_errors`) turn these into one ``error:``
line and exit code 2 instead of a traceback.
"""


class ConfigError(ValueError):
  """A setting (gin binding or flag) has a value the code cannot use."""


class WorkersLostError(RuntimeError):
  """Every remote worker of a run is gone; finished results are saved."""
