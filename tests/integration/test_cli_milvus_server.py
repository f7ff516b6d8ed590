"""`soko milvus-server`: listens on the port it is given, and exits non-zero when Milvus dies
(so that a supervisor restarts it) instead of running on beside a defunct child."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soko.config import load_settings
from soko.vectorstore import VectorStore
from soko.vectorstore.server import free_port, server_supported

pytestmark = pytest.mark.milvus_server


def test_milvus_server_keeps_its_port_and_exits_non_zero_when_milvus_dies(
    tmp_path: Path,
) -> None:
    ok, why = server_supported()
    if not ok:
        pytest.skip(f"Milvus server backend not run: {why}")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "soko",
            "milvus-server",
            "--data",
            str(tmp_path),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = ""
        for line in proc.stdout:
            if "ready" in line:
                ready = line
                break
        match = re.search(r"pid (\d+) ready: MILVUS_ADDRESS=(\S+)", ready)
        assert match, f"no ready line: {ready!r} {proc.stderr.read() if proc.stderr else ''}"
        assert match.group(2) == f"127.0.0.1:{port}"
        with VectorStore.open_existing(load_settings(milvus_address=match.group(2))) as store:
            assert store.stats().status == "no collection"

        os.kill(int(match.group(1)), signal.SIGKILL)
        started = time.monotonic()
        code = proc.wait(timeout=15)
        assert code != 0
        assert time.monotonic() - started < 5
        assert proc.stderr is not None
        assert "Milvus server exited" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
