"""A real `soko serve` process on a free loopback port, over the committed demo catalog (613
real photos, demo/), set up as `make run` does: `soko import`, `soko sync`, `soko serve`.

Its fixtures are registered in tests/conftest.py."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from soko.vectorstore.server import free_port

API_KEY = "test-key-0123456789"
DEMO = Path(__file__).resolve().parents[1] / "demo"
DEMO_ROWS = {int(row["product_id"]): row for row in csv.DictReader((DEMO / "catalog.csv").open())}
CATALOG_SIZE = len(DEMO_ROWS)


def demo_photo(product_id: int) -> Path:
    """The photo file of a demo product."""
    return DEMO / DEMO_ROWS[product_id]["image_path"]


@contextmanager
def serving(
    env: dict[str, str],
    *,
    cwd: Path,
    log: Path | None = None,
    worker: bool = False,
    healthy: bool = True,
    timeout_s: float = 120,
) -> Iterator[str]:
    """`soko serve` (with its sync loop if `worker`) on a free loopback port, until the block
    ends (SIGTERM, then SIGKILL after 20 s); yields its base URL once `/health` answers 200
    (any answer if not `healthy`). Fails the test with the log's tail if it exits or never
    gets there."""
    port = free_port()
    log = log or cwd / "serve.log"
    command = [sys.executable, "-m", "soko", "serve", *([] if worker else ["--no-worker"])]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command,
            env={**env, "SOKO_HOST": "127.0.0.1", "SOKO_PORT": str(port)},
            cwd=cwd,
            stdout=out,
            stderr=out,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                pytest.fail(f"soko serve exited:\n{log.read_text()[-3000:]}")
            try:
                status = httpx.get(f"{base_url}/health", timeout=5).status_code
                if status == 200 or not healthy:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"soko serve not healthy in time:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base_url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class ApiServer:
    base_url: str
    env: dict[str, str]
    data_dir: Path
    log: Path


def soko(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "soko", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"soko {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("api")
    env = {
        **os.environ,
        "MILVUS_ADDRESS": str(root / "milvus.db"),
        "DATABASE_URL": f"sqlite:///{root / 'catalog.db'}",
        "SOKO_DATA_DIR": str(root / "data"),
        "SOKO_EMBEDDER": "effnet-minilm",
        "SOKO_API_KEY": API_KEY,
        "SOKO_INGEST_POLL": "0.5",
        "SOKO_LOG_LEVEL": "INFO",
    }
    soko("import", str(DEMO / "catalog.csv"), env=env, cwd=root)
    soko("sync", env=env, cwd=root)
    log = root / "serve.log"
    with serving(env, cwd=root, log=log, worker=True) as base_url:
        yield ApiServer(base_url, env, root / "data", log)


@pytest.fixture
def client(api_server: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_server.base_url, timeout=30) as http:
        yield http
