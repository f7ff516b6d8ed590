"""Run the `soko` command as an operator does: a real process, its exit code and output."""

from __future__ import annotations

import os
import subprocess
import sys


def run_soko(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, module: str = "soko"
) -> subprocess.CompletedProcess[str]:
    """`python -m soko ARGS` (or another module, e.g. soko_bench) with this environment plus
    `env`."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
