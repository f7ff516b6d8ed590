"""Crash safety: `soko ingest` as a real process, SIGKILLed mid-way, then run again.

Whatever the point of death, the second run must leave Milvus holding exactly the live
catalog rows, each once, with the catalog's vectors and fields, and nothing pending.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from factories import TEST_SPACE, seed_catalog
from soko.app import Soko
from soko.catalog import Catalog, IngestQueue, ProductUpdate
from soko.config import Settings, load_settings
from soko.vectorstore import VectorStore


@pytest.fixture
def crash_settings(settings: Settings, backend: str, tmp_path: Path) -> Settings:
    """Like `settings`, but Lite gets a file of its own: the worker process needs it alone."""
    if backend == "lite":
        return load_settings(**{**settings.model_dump(), "milvus_address": str(tmp_path / "m.db")})
    return settings


@pytest.fixture
def catalog(crash_settings: Settings) -> Iterator[Catalog]:
    with Catalog.connect(crash_settings.database_url) as c:
        yield c


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "MILVUS_ADDRESS": settings.milvus_address,
        "SOKO_COLLECTION": settings.collection_name,
        "SOKO_NLIST": str(settings.nlist),
        "SOKO_NPROBE": str(settings.nprobe),
        "MILVUS_TIMEOUT": "30000",
        **extra,
    }


def run_worker(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "soko", "ingest", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=worker_env(settings, **env),
    )


def assert_converged(settings: Settings, catalog: Catalog) -> None:
    products = catalog.get_many(list(range(1, 10_000)), include_deleted=True)
    live = {pid: p for pid, p in products.items() if not p.deleted and p.has_vector}
    with VectorStore.connect(settings, TEST_SPACE) as store:
        listed = [pid for pid, _ in store.iter_versions()]
        assert len(listed) == len(set(listed)), "a product is in Milvus twice"
        assert sorted(listed) == sorted(live)
        assert store.count(strong=True) == len(live)
        stored = store.get_many(sorted(live), with_vector=True, strong=True)
    for pid, product in live.items():
        vector = catalog.vectors(pid).hybrid
        assert vector is not None
        got = stored[pid]
        assert got.embedding is not None
        np.testing.assert_allclose(got.embedding, vector, rtol=0, atol=1e-6)
        assert got.price == pytest.approx(product.price)
        assert got.product_name == product.name
    assert IngestQueue(catalog).pending_count() == 0


def prepare(settings: Settings, catalog: Catalog) -> None:
    """60 products in Milvus, then 15 edits, 5 deletes and 30 new products pending.

    With --batch-size 10 the pending ids are claimed as 1-10 | 11-15 + 41-45 | 61-70 | ...:
    batch 2 both upserts and deletes.
    """
    seed_catalog(catalog, range(1, 61))
    with Soko.open(settings) as soko:  # its own catalog connection and Milvus client
        soko.ingest_worker().run()
    for pid in range(1, 16):
        catalog.update(pid, ProductUpdate(price=5000.0 + pid))
    for pid in range(41, 46):
        catalog.delete(pid)
    seed_catalog(catalog, range(61, 91), seed=1)
    assert IngestQueue(catalog).pending_count() == 50


def milvus_state(settings: Settings) -> tuple[dict[int, float], set[int]]:
    """Prices of 11-15 and which of 41-45 Milvus holds."""
    with VectorStore.connect(settings, TEST_SPACE) as store:
        prices = {pid: p.price for pid, p in store.get_many(range(11, 16), strong=True).items()}
        present = set(store.get_many(range(41, 46), strong=True))
    return prices, present


#: The windows around the server's upsert (a delete plus an insert on Milvus 2.3.5) run on
#: the server; the others on Lite, where they cost less. (after_commit equals after_mark on
#: a SQLite catalog; the PostgreSQL test below covers the difference.)
CASES = [
    pytest.param("server", "after_upsert", marks=pytest.mark.milvus_server),
    pytest.param("server", "after_write", marks=pytest.mark.milvus_server),
    ("lite", "after_claim"),
    ("lite", "after_upsert"),
    ("lite", "after_mark"),
]


@pytest.mark.parametrize(("backend", "point"), CASES, indirect=["backend"])
def test_a_worker_killed_at_any_point_loses_nothing(
    crash_settings: Settings, catalog: Catalog, point: str
) -> None:
    prepare(crash_settings, catalog)
    # One batch at a time, so that the state at the crash is known exactly.
    killed = run_worker(
        crash_settings, "--batch-size", "10", "--in-flight", "0", SOKO_TEST_CRASH_AT=f"{point}:2"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert f"SOKO_TEST_CRASH_AT={point}" in killed.stderr

    # The crash happened where it was asked to: batch 1 is marked, batch 2 is in the state
    # of its crash point, and nothing of batch 2 is marked (except after the mark).
    pending = IngestQueue(catalog).pending_count()
    assert pending == (30 if point in {"after_mark", "after_commit"} else 40)
    prices, present = milvus_state(crash_settings)
    written = point != "after_claim"
    assert prices == {pid: (5000.0 + pid if written else pid % 100 * 10.0) for pid in prices}
    gone = point in {"after_write", "after_mark", "after_commit"}
    assert present == (set() if gone else set(range(41, 46)))

    rerun = run_worker(crash_settings, "--batch-size", "10")
    assert rerun.returncode == 0, rerun.stderr
    assert_converged(crash_settings, catalog)


@pytest.mark.milvus_server
@pytest.mark.parametrize("backend", ["server"], indirect=True)
def test_a_pipelined_worker_killed_with_batches_in_flight_loses_nothing(
    crash_settings: Settings, catalog: Catalog
) -> None:
    prepare(crash_settings, catalog)
    killed = run_worker(
        crash_settings, "--batch-size", "5", "--in-flight", "3", SOKO_TEST_CRASH_AT="after_write:4"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert IngestQueue(catalog).pending_count() > 0
    rerun = run_worker(crash_settings, "--batch-size", "5", "--in-flight", "3")
    assert rerun.returncode == 0, rerun.stderr
    assert_converged(crash_settings, catalog)


@pytest.mark.milvus_server
@pytest.mark.parametrize("backend", ["server"], indirect=True)
def test_a_worker_killed_at_a_random_moment_mid_run_loses_nothing(
    crash_settings: Settings, catalog: Catalog
) -> None:
    seed_catalog(catalog, range(1, 1501))
    proc = subprocess.Popen(
        [sys.executable, "-m", "soko", "ingest", "--batch-size", "50"],
        env=worker_env(crash_settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with catalog.engine.connect() as conn:
                marked = conn.execute(
                    text("SELECT count(*) FROM products WHERE written_version IS NOT NULL")
                ).scalar_one()
            if marked >= 200:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"the worker ended before it could be killed: {proc.stderr}"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    assert 0 < IngestQueue(catalog).pending_count() < 1500

    rerun = run_worker(crash_settings, "--batch-size", "50")
    assert rerun.returncode == 0, rerun.stderr
    assert_converged(crash_settings, catalog)


@pytest.mark.postgres
@pytest.mark.milvus_server
@pytest.mark.parametrize(("backend", "point"), [("server", "after_mark")], indirect=["backend"])
def test_on_postgresql_a_kill_before_commit_rolls_the_marks_back(
    crash_settings: Settings, postgres_url: str, point: str
) -> None:
    settings = load_settings(**{**crash_settings.model_dump(), "database_url": postgres_url})
    with Catalog.connect(postgres_url) as catalog:
        prepare(settings, catalog)
        killed = run_worker(
            settings, "--batch-size", "10", "--in-flight", "0", SOKO_TEST_CRASH_AT=f"{point}:2"
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        # Batch 2 was written and marked, but its transaction never committed.
        assert IngestQueue(catalog).pending_count() == 40
        rerun = run_worker(settings, "--batch-size", "10")
        assert rerun.returncode == 0, rerun.stderr
        assert_converged(settings, catalog)
