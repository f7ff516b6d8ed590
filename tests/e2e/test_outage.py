"""A Milvus outage under a real `soko serve`: SIGKILL the real Milvus server, restart it.

What a client must see: searches answer 503 (JSON, `Retry-After`) at once while Milvus is
down, routes that do not need Milvus stay fast, `/health` answers at once, and searches come
back within seconds of Milvus answering again, without restarting the API and without a
product lost or doubled in Milvus. The figures measured are printed (`pytest -s`).
"""

from __future__ import annotations

import csv
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from apiserver import DEMO, serving, soko
from soko.config import load_settings
from soko.vectorstore import VectorStore
from soko.vectorstore.server import LocalMilvusServer, free_port, server_supported

pytestmark = pytest.mark.milvus_server

PRODUCTS = 40
#: Targets, with slack for this shared 2-core machine. Before the fix: ~29 s and ~30 s.
FIRST_503_MAX_S = 2.0
FAST_ROUTE_MAX_S = 1.0
RECOVERY_MAX_S = 8.0


@dataclass
class Stack:
    milvus: LocalMilvusServer
    base_url: str
    env: dict[str, str]
    log: Path


def small_catalog(folder: Path) -> Path:
    """The first PRODUCTS rows of the demo catalog, image paths made absolute."""
    with (DEMO / "catalog.csv").open() as source:
        reader = csv.DictReader(source)
        rows = [row for _, row in zip(range(PRODUCTS), reader, strict=False)]
        fields = reader.fieldnames
    assert fields is not None
    path = folder / "catalog.csv"
    with path.open("w", newline="") as target:
        writer = csv.DictWriter(target, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "image_path": str(DEMO / row["image_path"])})
    return path


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    ok, why = server_supported()
    if not ok:
        pytest.skip(f"Milvus server backend not run: {why}")
    # A short session lease: Milvus restarts after a SIGKILL in ~25 s instead of ~55 s.
    milvus = LocalMilvusServer(tmp_path / "milvus", port=free_port(), session_ttl_s=10).start()
    try:
        env = {
            **os.environ,
            "MILVUS_ADDRESS": milvus.address,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'catalog.db'}",
            "SOKO_DATA_DIR": str(tmp_path / "data"),
            "SOKO_COLLECTION": "outage",
            "SOKO_NLIST": "16",
            "SOKO_EMBEDDER": "effnet-minilm",
            "SOKO_MEDIA_ROOT": str(DEMO),  # the photos stay in demo/, the catalog is here
            "SOKO_LOG_LEVEL": "INFO",
        }
        soko("import", str(small_catalog(tmp_path)), env=env, cwd=tmp_path)
        soko("sync", env=env, cwd=tmp_path)
        log = tmp_path / "serve.log"
        with serving(env, cwd=tmp_path, log=log) as base_url:
            yield Stack(milvus, base_url, env, log)
    finally:
        milvus.stop()


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def first(
    http: httpx.Client, status: int, since: float, limit_s: float
) -> tuple[float, httpx.Response]:
    """Search in a loop until one answers `status`; seconds since `since` and the answer."""
    product = 0
    while True:
        product = product % PRODUCTS + 1
        try:
            response = http.get(f"/api/products/similar/{product}", params={"threshold": 0})
        except httpx.TimeoutException:
            response = None
        if response is not None and response.status_code == status:
            return time.monotonic() - since, response
        if time.monotonic() - since > limit_s:
            got = None if response is None else (response.status_code, response.text[:300])
            pytest.fail(f"no {status} within {limit_s:.0f}s of the event; last answer: {got}")
        time.sleep(0.05)


def test_a_milvus_outage_fails_fast_and_recovers_without_losing_products(stack: Stack) -> None:
    settings = load_settings(milvus_address=stack.milvus.address, collection_name="outage")
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        for product in range(1, 11):
            assert http.get(f"/api/products/similar/{product}").status_code == 200

        assert stack.milvus.pid is not None
        os.kill(stack.milvus.pid, signal.SIGKILL)
        killed = time.monotonic()
        to_503, answer = first(http, 503, killed, limit_s=60)
        assert answer.headers["content-type"].startswith("application/json")
        assert "error" in answer.json()
        assert "Traceback" not in answer.text
        assert int(answer.headers["Retry-After"]) >= 1
        assert to_503 <= FIRST_503_MAX_S, f"first 503 {to_503:.1f}s after SIGKILL"

        # Known down: every search fails at once, /health too, even with 60 in flight.
        searches = [f"/api/products/similar/{n % PRODUCTS + 1}" for n in range(60)]
        with ThreadPoolExecutor(60) as pool:
            storm = [pool.submit(timed, lambda p=p: http.get(p)) for p in searches]  # type: ignore[misc]
            fast = {
                path: timed(lambda path=path: http.get(path))  # type: ignore[misc]
                for path in ("/api/products/1", "/api/categories", "/metrics", "/")
            }
            health, health_s = timed(lambda: http.get("/health"))
            failed = [future.result() for future in storm]
        for path, (response, seconds) in fast.items():
            assert response.status_code == 200, (path, response.text[:300])
            assert seconds < FAST_ROUTE_MAX_S, f"{path} took {seconds:.1f}s during the outage"
        slowest_503 = max(seconds for _, seconds in failed)
        assert {response.status_code for response, _ in failed} == {503}
        assert slowest_503 < FAST_ROUTE_MAX_S, f"a search took {slowest_503:.1f}s to fail"
        assert health.status_code == 503
        assert health.json()["milvus"]["status"] == "unavailable"
        assert health_s < FAST_ROUTE_MAX_S, f"/health took {health_s:.1f}s during the outage"

        restarting = time.monotonic()
        stack.milvus.start()  # same data folder, same port
        answering = time.monotonic()
        to_200, _ = first(http, 200, answering, limit_s=90)
        print(
            f"\noutage figures: first 503 {to_503:.2f}s after SIGKILL; slowest search 503 "
            f"{slowest_503:.2f}s with 60 in flight; /health {health_s:.2f}s; fast routes "
            + ", ".join(f"{path} {s:.2f}s" for path, (_, s) in fast.items())
            + f"; Milvus restart {answering - restarting:.1f}s; first search 200 "
            f"{to_200:.2f}s after Milvus answered"
        )
        assert to_200 <= RECOVERY_MAX_S, (
            f"searches back {to_200:.1f}s after Milvus answered; soko serve's log:\n"
            + stack.log.read_text()[-4000:]
        )
        for product in range(1, PRODUCTS + 1):
            assert http.get(f"/api/products/similar/{product}").status_code == 200
        health = http.get("/health")
        assert health.status_code == 200, health.text

    # Nothing lost nor doubled: every id exactly once.
    with VectorStore.open_existing(settings) as store:
        assert store.count(strong=True) == PRODUCTS
        ids = list(range(1, PRODUCTS + 1))
        assert sorted(store.get_many(ids, strong=True)) == ids
        assert store.get_many([PRODUCTS + 1], strong=True) == {}
