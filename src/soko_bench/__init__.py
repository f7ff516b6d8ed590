"""Benchmarks (`soko-bench ...`): outside the runtime package, on Soko's public names only.

They measure on this machine and write JSON and plots under bench/results/.
"""
