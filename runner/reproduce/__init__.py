"""Paper-table reproduction: table specs, resumable cells, aggregation, rendering.

The tables themselves (which systems, the papers' numbers, the gin files) are
declared in `experiments.reproduce.tables`; how one cell runs (a search, a
retraining, a count) is `experiments.reproduce.cells`. This package holds the
layer-neutral part: the spec types (`spec`), the resumable cell loop
(`table`), statistics (`stats`), Markdown/JSON (`render`) and plots (`plots`).
"""
