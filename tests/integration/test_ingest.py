"""The ingest worker against real Milvus (Lite and server) and a real SQLite catalog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from factories import TEST_SPACE, product_batch, seed_catalog, unit_vectors
from soko.app import Soko
from soko.app.ingest import IngestWorker
from soko.app.reconcile import reconcile
from soko.catalog import Catalog, IngestQueue, ProductUpdate
from soko.config import Settings
from soko.vectorstore import VectorStore


@pytest.fixture
def catalog(settings: Settings) -> Iterator[Catalog]:
    with Catalog.connect(settings.database_url) as c:
        yield c


@pytest.fixture
def store(settings: Settings) -> Iterator[VectorStore]:
    vs = VectorStore.connect(settings, TEST_SPACE)
    yield vs
    vs.drop()
    vs.close()


def milvus_ids(store: VectorStore) -> list[int]:
    return sorted(pid for pid, _ in store.iter_versions())


def assert_converged(catalog: Catalog, store: VectorStore) -> None:
    """Milvus holds exactly the live catalog rows with vectors, with the catalog's vectors."""
    live = {
        pid: p
        for pid, p in catalog.get_many(list(range(1, 100_000)), include_deleted=True).items()
        if not p.deleted and p.has_vector
    }
    ids = milvus_ids(store)
    assert ids == sorted(live), "Milvus and the catalog hold different ids"
    assert store.count(strong=True) == len(live), "Milvus holds duplicates"
    stored = store.get_many(ids, with_vector=True, strong=True)
    for pid, product in live.items():
        expected = catalog.vectors(pid).hybrid
        got = stored[pid].embedding
        assert expected is not None
        assert got is not None
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
        assert stored[pid].price == pytest.approx(product.price)
        assert stored[pid].product_name == product.name
    assert IngestQueue(catalog).pending_count() == 0


def test_ingest_writes_every_pending_row_in_batches_and_marks_it(
    settings: Settings, catalog: Catalog, store: VectorStore
) -> None:
    seed_catalog(catalog, range(1, 251))
    worker = IngestWorker(settings, catalog, lambda _: store, batch_size=100)
    stats = worker.run()
    assert (stats.batches, stats.upserted, stats.marked) == (3, 250, 250)
    assert_converged(catalog, store)
    # Nothing is pending any more: a second run claims nothing.
    worker = IngestWorker(settings, catalog, lambda _: store, batch_size=100)
    assert worker.run().batches == 0


def test_edits_and_deletes_reach_milvus(
    settings: Settings, catalog: Catalog, store: VectorStore
) -> None:
    seed_catalog(catalog, range(1, 41))
    worker = IngestWorker(settings, catalog, lambda _: store)
    worker.run()
    catalog.update(5, ProductUpdate(price=777.0, name="Kiatu kipya"))
    catalog.delete(6)
    catalog.delete(7)
    assert IngestQueue(catalog).pending_count() == 3
    worker = IngestWorker(settings, catalog, lambda _: store)
    stats = worker.run()
    assert (stats.upserted, stats.deleted, stats.marked) == (1, 2, 3)
    assert store.get(6, strong=True) is None
    assert store.get(7, strong=True) is None
    moved = store.get(5, strong=True)
    assert moved is not None
    assert (moved.price, moved.product_name) == (777.0, "Kiatu kipya")
    assert_converged(catalog, store)


def test_a_row_with_an_unusable_vector_is_reported_and_does_not_block_the_rest(
    settings: Settings, catalog: Catalog, store: VectorStore
) -> None:
    seed_catalog(catalog, range(1, 31))
    with catalog.engine.begin() as conn:
        conn.execute(
            text("UPDATE product_vectors SET hybrid_vector = :v WHERE product_id = 2"),
            {"v": b"\x00" * 12},
        )
        conn.execute(text("UPDATE products SET version = version + 1 WHERE id = 2"))
    worker = IngestWorker(settings, catalog, lambda _: store, batch_size=10)
    stats = worker.run()
    assert stats.bad_vectors == {2}
    assert stats.marked == 29
    assert milvus_ids(store) == [i for i in range(1, 31) if i != 2]
    assert IngestQueue(catalog).pending_count() == 1


def test_the_worker_connects_to_the_collection_of_the_catalogs_vector_space(
    settings: Settings, catalog: Catalog
) -> None:
    seed_catalog(catalog, range(1, 6))
    with Soko.open(settings) as soko:  # its own catalog connection and Milvus client
        soko.ingest_worker().run()
    store = VectorStore.connect(settings, TEST_SPACE)
    try:
        assert store.recorded_embedder() == TEST_SPACE
        assert milvus_ids(store) == [1, 2, 3, 4, 5]
    finally:
        store.drop()
        store.close()


def test_reconcile_repairs_drift_both_ways(
    settings: Settings, catalog: Catalog, store: VectorStore
) -> None:
    seed_catalog(catalog, range(1, 21))
    worker = IngestWorker(settings, catalog, lambda _: store)
    worker.run()
    # Drift: Milvus lost 3 and 4, holds an unknown id 999, holds another version of 8, and
    # still holds 5 although the catalog deleted it (marked written behind the worker's back).
    store.delete([3, 4])
    store.upsert(product_batch([8, 999], unit_vectors(2, seed=5)))
    catalog.delete(5)
    with catalog.engine.begin() as conn:
        conn.execute(text("UPDATE products SET written_version = version WHERE id = 5"))

    dry = reconcile(catalog, store, dry_run=True)
    assert (dry.missing, dry.stale, dry.deleted, dry.unknown) == ([3, 4], [8], [5], [999])
    assert not dry.applied
    assert store.get(999, strong=True) is not None

    report = reconcile(catalog, store)
    assert report.applied
    assert store.get(999, strong=True) is None
    assert store.get(5, strong=True) is None
    assert IngestQueue(catalog).pending_count() == 3
    worker = IngestWorker(settings, catalog, lambda _: store)
    assert worker.run().upserted == 3
    assert_converged(catalog, store)
    assert reconcile(catalog, store).drift == 0


def test_a_run_on_lite_ends_flushed_so_searches_use_the_index(
    settings: Settings, catalog: Catalog, store: VectorStore
) -> None:
    if store.backend != "lite":
        pytest.skip("server runs are flushed only after 50k rows (SERVER_FLUSH_ROWS)")
    collection = Path(settings.milvus_uri) / "collections" / store.name
    seed_catalog(catalog, range(1, 121))
    assert not list(collection.rglob("*.parquet"))
    worker = IngestWorker(settings, catalog, lambda _: store, batch_size=50)
    worker.run()
    flushed = sum(pq.read_metadata(p).num_rows for p in collection.rglob("*.parquet"))
    assert flushed == 120
