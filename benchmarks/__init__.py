"""Benchmarks of crewstream-testing: run `python benchmarks/run.py` (see docs/benchmarks.md)."""
