"""Logging is quiet by default, also for libraries that configure their own loggers."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import logging
from soko.logs import configure_logging
configure_logging({level!r})
import soko.vectorstore  # imports pymilvus, which installs its own logging config
for name in ("pymilvus.milvus_client.milvus_client", "pymilvus.decorators", "pymilvus"):
    logging.getLogger(name).error("pymilvus says: %s", name)
logging.getLogger("soko.ingest").error("soko says: one line")
"""


def run(level: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(level=level)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.splitlines()


def test_pymilvus_errors_are_silent_by_default_and_soko_still_speaks() -> None:
    lines = run("WARNING")
    assert not [line for line in lines if "pymilvus says" in line]
    assert [line for line in lines if "soko says: one line" in line]


def test_debug_shows_what_pymilvus_says() -> None:
    lines = run("DEBUG")
    assert len([line for line in lines if "pymilvus says" in line]) == 3
