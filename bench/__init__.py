"""Benchmarks for the venue twin: import, bbox reads at any version, and diffs.

Run with `python -m bench` (or `make bench`); `python -m bench --help` lists the options.
Timings are printed, never asserted: each line says whether its target is met.
"""
