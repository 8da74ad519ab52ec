"""Benchmarks of mmap_io against the raw stdlib and its peers.

Run them all with ``python -m benchmarks`` (``--quick`` for a short run,
``--only NAME`` for one suite). Every suite measures mmap_io and its
baselines side by side in one process and prints ratios, never asserts.
"""
