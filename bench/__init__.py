"""Benchmark harness: the app and bare anchor apps under the same load, reported as a ratio to the anchor.

Run with `make bench` (`python -m bench`); see bench/README.md for adding a scenario.
"""
