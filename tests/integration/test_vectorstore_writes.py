"""`BatchWriter`: the one write path the ingest worker and the benchmarks share."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from factories import clustered_unit_vectors, product_batch
from soko.config import Settings
from soko.errors import ConfigError, VectorStoreError
from soko.products import ProductBatch
from soko.vectorstore import BatchWriter, VectorStore, WriteBatch
from soko_bench.milvus_io import SegmentWatch, write_all

EMBEDDER = "test-embedder-v1"


@pytest.fixture
def store(settings: Settings) -> Iterator[VectorStore]:
    vs = VectorStore.connect(settings, EMBEDDER)
    yield vs
    vs.drop()
    vs.close()


def batches(n: int, size: int, vectors: np.ndarray) -> Iterator[ProductBatch]:
    for start in range(0, n, size):
        ids = np.arange(start, min(start + size, n)) + 1
        yield product_batch(ids, vectors[start : start + size])


def test_the_writer_writes_every_row_once_and_reports_timings(
    store: VectorStore, settings: Settings
) -> None:
    vectors = clustered_unit_vectors(900, clusters=6, seed=4)
    written: list[int] = []
    threads: set[str] = set()

    def on_written(batch: WriteBatch) -> None:
        written.append(batch.rows)
        threads.add(threading.current_thread().name)

    concurrency = min(3, store.max_writers)
    with BatchWriter(store, concurrency=concurrency) as writer:
        for batch in batches(900, 100, vectors):
            writer.submit(WriteBatch(batch), on_written)
    report = writer.report
    store.flush()
    assert report.rows == 900
    assert report.batches == 9
    assert sum(written) == 900
    assert report.concurrency == (1 if store.backend == "lite" else 3)
    assert all(name.startswith("soko-writer") for name in threads)
    assert report.build_s > 0
    assert report.rpc_s > 0
    assert report.rows_per_s > 0
    assert store.count() == 900
    hit = store.search(vectors[123], limit=1)[0][0]
    assert hit.product_id == 124
    watch = SegmentWatch(settings, store.name)
    try:
        if store.backend == "server":
            # Sealed segments reach the query node a moment after the flush.
            deadline = time.monotonic() + 60
            while sum(s.rows for s in watch.segments()) < 900 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert sum(s.rows for s in watch.segments()) == 900
        else:
            assert watch.segments() == []
    finally:
        watch.close()


def test_in_the_calling_thread_upserts_come_before_the_hook_and_the_deletes(
    store: VectorStore,
) -> None:
    vectors = clustered_unit_vectors(20, clusters=2, seed=3)
    store.upsert(product_batch(np.arange(1, 11), vectors[:10]))
    seen: list[str] = []

    def after_upsert() -> None:
        # The new rows are there, the deleted ones not yet gone.
        present = store.get_many([5, 15], strong=True).keys()
        seen.append(f"hook:{sorted(present)}")

    with BatchWriter(store, concurrency=0) as writer:
        writer.submit(
            WriteBatch(product_batch(np.arange(11, 21), vectors[10:]), np.array([5, 6])),
            lambda batch: seen.append(f"written:{batch.rows}"),
            after_upsert=after_upsert,
        )
        assert seen == ["hook:[5, 15]", "written:12"]  # done before submit returned
    assert store.count(strong=True) == 18
    assert store.get_many([5, 6, 15], strong=True).keys() == {15}


def test_upserts_through_the_writer_replace_rows(store: VectorStore) -> None:
    vectors = clustered_unit_vectors(200, clusters=4, seed=5)
    write_all(store, batches(200, 50, vectors), concurrency=2)
    moved = clustered_unit_vectors(200, clusters=4, seed=6)
    write_all(store, batches(200, 50, moved), concurrency=2)
    store.flush()
    assert store.count() == 200
    got = store.get(17)
    assert got is not None
    assert got.embedding is not None
    np.testing.assert_allclose(got.embedding, moved[16], atol=1e-6)


def test_a_failed_batch_stops_the_run_with_the_error(store: VectorStore) -> None:
    vectors = clustered_unit_vectors(300, clusters=4, seed=7)

    def with_bad() -> Iterator[ProductBatch]:
        yield from batches(100, 50, vectors)
        bad = product_batch(np.arange(500, 510), vectors[:10])
        yield replace(bad, embeddings=np.zeros((10, 8), np.float32))
        yield from batches(300, 50, vectors)

    marked: list[int] = []

    def submit_all() -> None:
        with BatchWriter(store, concurrency=min(2, store.max_writers)) as writer:
            for batch in with_bad():
                writer.submit(WriteBatch(batch), lambda b: marked.append(b.rows))

    with pytest.raises(VectorStoreError, match="dims"):
        submit_all()
    # The bad batch was never reported written, and nothing after it was taken.
    assert sum(marked) < 100 + 300


@pytest.mark.parametrize("backend", ["lite"])  # refused before any call to Milvus
def test_the_writer_refuses_more_writers_than_the_backend_takes(store: VectorStore) -> None:
    with pytest.raises(ConfigError, match="at most 1 writer"):
        BatchWriter(store, concurrency=2)
    with pytest.raises(ConfigError, match="negative"):
        BatchWriter(store, concurrency=-1)
