"""Benchmarks: scripts that measure models, not tests (they assert nothing)."""
