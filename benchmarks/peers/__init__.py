"""Benchmarks against what users would pick instead of effmesh (``make bench-peers``)."""
