"""Benchmarks: each reports ratios measured within one run (see docs/benchmarks.md)."""
