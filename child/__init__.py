"""Child networks: the models that the controller samples, and their data."""
