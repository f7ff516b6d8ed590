"""Benchmarks: `soko bench ...` measures on this machine and writes JSON under bench/results/."""
