"""Benchmarks (`soko bench ...`): each writes a JSON result under bench/results/."""
