"""`write_batches` and `insert_new`: the write path the ingest worker and the benchmark share."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from factories import clustered_unit_vectors, product_batch
from soko.config import Settings
from soko.errors import VectorStoreError
from soko.vectorstore import ProductVectors, VectorStore, write_batches

EMBEDDER = "test-embedder-v1"


@pytest.fixture
def store(settings: Settings) -> Iterator[VectorStore]:
    vs = VectorStore.connect(settings, EMBEDDER)
    yield vs
    vs.drop()
    vs.close()


def batches(n: int, size: int, vectors: np.ndarray) -> Iterator[ProductVectors]:
    for start in range(0, n, size):
        ids = np.arange(start, min(start + size, n)) + 1
        yield product_batch(ids, vectors[start : start + size])


def test_write_batches_writes_every_row_once_and_reports_timings(store: VectorStore) -> None:
    vectors = clustered_unit_vectors(900, clusters=6, seed=4)
    pulled: list[int] = []

    def lazy() -> Iterator[ProductVectors]:
        for batch in batches(900, 100, vectors):
            pulled.append(len(batch))
            yield batch

    seen: list[int] = []
    report = write_batches(store, lazy(), concurrency=3, new_ids=True, on_batch=seen.append)
    store.flush()
    assert report.rows == 900
    assert report.batches == 9
    assert sum(seen) == 900
    assert report.concurrency == (1 if store.backend == "lite" else 3)
    assert report.build_s > 0
    assert report.rpc_s > 0
    assert report.rows_per_s > 0
    assert store.count() == 900
    hit = store.search(vectors[123], limit=1)[0][0]
    assert hit.product.product_id == 124
    if store.backend == "server":
        # Sealed segments reach the query node a moment after the flush.
        deadline = time.monotonic() + 60
        while sum(s.rows for s in store.segments()) < 900 and time.monotonic() < deadline:
            time.sleep(0.5)
        segments = store.segments()
        assert sum(s.rows for s in segments) == 900
        assert {s.state for s in segments} <= {"Sealed", "Flushed", "Growing"}
    else:
        assert store.segments() == []


def test_upsert_through_write_batches_replaces_rows(store: VectorStore) -> None:
    vectors = clustered_unit_vectors(200, clusters=4, seed=5)
    write_batches(store, batches(200, 50, vectors), concurrency=2, new_ids=True)
    moved = clustered_unit_vectors(200, clusters=4, seed=6)
    write_batches(store, batches(200, 50, moved), concurrency=2)
    store.flush()
    assert store.count() == 200
    got = store.get(17)
    assert got is not None
    assert got.embedding is not None
    np.testing.assert_allclose(got.embedding, moved[16], atol=1e-6)


def test_a_failed_batch_stops_the_run_with_the_error(store: VectorStore) -> None:
    vectors = clustered_unit_vectors(300, clusters=4, seed=7)

    def with_bad() -> Iterator[ProductVectors]:
        yield from batches(100, 50, vectors)
        bad = product_batch(np.arange(500, 510), vectors[:10])
        yield ProductVectors(**{**bad.__dict__, "embeddings": np.zeros((10, 8), np.float32)})
        yield from batches(300, 50, vectors)

    with pytest.raises(VectorStoreError, match="dims"):
        write_batches(store, with_bad(), concurrency=2, new_ids=True)


@pytest.mark.parametrize("backend", ["lite"])  # refused before any call to Milvus
def test_write_batches_refuses_zero_writers(store: VectorStore) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        write_batches(store, iter(()), concurrency=0)
