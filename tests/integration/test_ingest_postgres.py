"""Several ingest workers on one PostgreSQL catalog claim disjoint batches (SKIP LOCKED)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from factories import TEST_SPACE, seed_catalog
from soko.catalog import Catalog, IngestQueue
from soko.config import load_settings
from soko.vectorstore import VectorStore
from soko.vectorstore.server import LocalMilvusServer

pytestmark = pytest.mark.postgres


def test_a_locked_batch_is_skipped_not_waited_for(postgres_url: str) -> None:
    with Catalog.connect(postgres_url) as first, Catalog.connect(postgres_url) as second:
        seed_catalog(first, range(1, 31))
        with IngestQueue(first).claim(10) as held:
            assert held.rows.upserts.product_ids.tolist() == list(range(1, 11))
            began = time.monotonic()
            with IngestQueue(second).claim(10) as other:
                assert other.rows.upserts.product_ids.tolist() == list(range(11, 21))
            assert time.monotonic() - began < 5
        # The first claim ended without a mark: its rows are pending and claimable again.
        with IngestQueue(second).claim(10) as again:
            assert again.rows.upserts.product_ids.tolist() == list(range(1, 11))


@pytest.mark.milvus_server
def test_two_worker_processes_write_every_row_exactly_once(
    postgres_url: str, milvus_server: LocalMilvusServer, tmp_path: Path
) -> None:
    settings = load_settings(
        milvus_address=milvus_server.address,
        collection_name=f"t_two_workers_{os.getpid()}",
        nlist=16,
        nprobe=16,
        database_url=postgres_url,
    )
    total = 2000
    with Catalog.connect(postgres_url) as catalog:
        seed_catalog(catalog, range(1, total + 1))
    # Create the collection up front so both workers start writing at once.
    VectorStore.connect(settings, TEST_SPACE).close()
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "MILVUS_ADDRESS": settings.milvus_address,
        "SOKO_COLLECTION": settings.collection_name,
        "SOKO_NLIST": "16",
        "SOKO_NPROBE": "16",
    }
    start = threading.Barrier(2)
    results: list[subprocess.CompletedProcess[str]] = []

    def worker() -> None:
        start.wait()
        results.append(
            subprocess.run(
                [sys.executable, "-m", "soko", "ingest", "--batch-size", "25"],
                capture_output=True,
                text=True,
                timeout=300,
                env=env,
            )
        )

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    upserted = []
    for result in results:
        assert result.returncode == 0, result.stderr
        match = re.search(r"ingest: (\d+) upserted", result.stdout)
        assert match, result.stdout
        upserted.append(int(match.group(1)))
    # Both worked, and no row was written twice (without SKIP LOCKED both would write all).
    assert min(upserted) > 0, upserted
    assert sum(upserted) == total, upserted
    with Catalog.connect(postgres_url) as catalog:
        assert IngestQueue(catalog).pending_count() == 0
    with VectorStore.connect(settings, TEST_SPACE) as store:
        try:
            ids = [pid for pid, _ in store.iter_versions()]
            assert sorted(ids) == list(range(1, total + 1))
            assert store.count(strong=True) == total
        finally:
            store.drop()
