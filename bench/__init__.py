"""Benchmarks: scripts anyone can rerun, each printing its figures next to a baseline."""
