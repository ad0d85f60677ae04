"""``python -m experiments.reproduce``: the papers' tables, one command each.

`tables` declares them, `cells` runs one cell in-process, `results` writes
the top-level RESULTS.md; the binary is ``__main__``.
"""
