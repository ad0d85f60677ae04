"""Binaries: search, final training, benchmarks, reproduction tables."""
