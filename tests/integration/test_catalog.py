"""The catalog on a real SQLite file and a real PostgreSQL server: schema, CRUD, counts, CAS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from factories import TEST_SPACE, TEST_VECTOR_SPACE, product_creates, seed_catalog, unit_vectors
from soko.catalog import (
    Catalog,
    HydrateQueue,
    IngestQueue,
    ProductCreate,
    ProductUpdate,
    SpaceRecord,
    VectorUpdate,
)
from soko.catalog.database import HEAD_REVISION, MIGRATIONS, current_revision
from soko.catalog.models import Base
from soko.embedding import VectorSpace
from soko.errors import EmbedderMismatch, InvalidVector, ProductExists, ProductNotFound


@pytest.fixture
def catalog(database_url: str) -> Iterator[Catalog]:
    with Catalog.connect(database_url) as c:
        yield c


def test_migrations_build_exactly_the_models_schema(catalog: Catalog) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION
    assert current_revision(catalog.engine) == HEAD_REVISION
    with catalog.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    # Connecting again does not migrate again (and does not fail).
    Catalog.connect(str(catalog.engine.url.render_as_string(hide_password=False))).close()


def test_pending_lookups_use_the_partial_index(catalog: Catalog) -> None:
    seed_catalog(catalog, range(1, 50))
    queue = IngestQueue(catalog)
    statement = queue._claim_statement(10, 0)
    compiled = statement.compile(catalog.engine, compile_kwargs={"literal_binds": True})
    with catalog.engine.connect() as conn:
        if catalog.is_postgresql:
            conn.execute(text("SET enable_seqscan = off"))
            plan = " ".join(r[0] for r in conn.execute(text(f"EXPLAIN {compiled}")))
        else:
            plan = " ".join(r[3] for r in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "ix_products_pending" in plan


def test_create_get_update_delete(catalog: Catalog) -> None:
    created = catalog.create(
        ProductCreate(
            product_id=7,
            name="Kikapu",
            description="Woven basket",
            category="bags",
            price=12.5,
            seller_id=3,
            image_url="https://img.example/7.jpg",
        )
    )
    assert created.version == 1
    assert created.created_at.tzinfo is not None
    assert abs(created.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert catalog.get(7).name == "Kikapu"
    with pytest.raises(ProductExists):
        catalog.create(ProductCreate(product_id=7, name="x", category="y", price=1, seller_id=1))

    repriced = catalog.update(7, ProductUpdate(price=15.0))
    assert (repriced.price, repriced.version) == (15.0, 2)
    # Re-sending the same value is not a change.
    assert catalog.update(7, ProductUpdate(price=15.0)).version == 2
    swapped = catalog.update(7, ProductUpdate(image_path="/srv/images/7.jpg"))
    assert swapped.image_path == "/srv/images/7.jpg"
    assert swapped.image_url is None  # one image source at a time

    gone = catalog.delete(7)
    assert gone.deleted
    assert gone.version == 4
    with pytest.raises(ProductNotFound):
        catalog.get(7)
    with pytest.raises(ProductNotFound):
        catalog.delete(7)
    with pytest.raises(ProductNotFound):
        catalog.update(7, ProductUpdate(price=1.0))
    assert catalog.get(7, include_deleted=True).deleted
    # A deleted id can be created again.
    again = catalog.create(
        ProductCreate(product_id=7, name="New", category="c", price=1, seller_id=1)
    )
    assert not again.deleted
    assert again.version > 4
    assert again.name == "New"


def test_int64_ids_and_unicode_round_trip(catalog: Catalog) -> None:
    big = 2**63 - 1
    catalog.create(
        ProductCreate(
            product_id=big, name="Kitenge 🌍", category="vitambaa", price=0, seller_id=big
        )
    )
    product = catalog.get(big)
    assert (product.product_id, product.seller_id, product.name) == (big, big, "Kitenge 🌍")


def test_only_embedded_fields_make_a_product_rehydrate(catalog: Catalog) -> None:
    seed_catalog(catalog, [1])
    assert catalog.counts().unhydrated == 0
    hydrated = catalog.get(1)
    catalog.update(1, ProductUpdate(price=99.0))
    with catalog.engine.connect() as conn:
        needed = conn.execute(text("SELECT hydrate_needed FROM products WHERE id = 1")).scalar()
    assert not needed
    catalog.update(1, ProductUpdate(name="renamed"))
    with catalog.engine.connect() as conn:
        needed = conn.execute(text("SELECT hydrate_needed FROM products WHERE id = 1")).scalar()
    assert needed
    assert catalog.get(1).version == hydrated.version + 2


def test_counts(catalog: Catalog) -> None:
    catalog.import_products(product_creates(range(1, 11)))
    seed_catalog(catalog, range(1, 5))
    catalog.delete(10)
    versions = catalog.get(5).version
    HydrateQueue(catalog).store(
        [
            VectorUpdate(
                product_id=5,
                version=versions,
                hybrid=unit_vectors(1)[0],
                error="HTTP 404",
                attempts=1,
                next_attempt_at=datetime.now(UTC) + timedelta(hours=1),
            )
        ],
        TEST_VECTOR_SPACE,
    )
    counts = catalog.counts()
    assert (counts.total, counts.active, counts.deleted) == (10, 9, 1)
    # 1-5 have vectors, 10 is deleted (and must be removed from Milvus): 6 pending.
    assert counts.pending == 6
    assert counts.unhydrated == 4  # 6..9
    assert counts.hydrate_errors == 1


def test_store_vectors_is_compare_and_set_and_checks_the_vectors(catalog: Catalog) -> None:
    catalog.import_products(product_creates([1, 2]))
    v1 = catalog.get(1).version
    catalog.update(2, ProductUpdate(name="changed while embedding"))
    vectors = unit_vectors(2)
    written = HydrateQueue(catalog).store(
        [
            VectorUpdate(product_id=1, version=v1, hybrid=vectors[0]),
            VectorUpdate(product_id=2, version=1, hybrid=vectors[1]),  # stale version
        ],
        TEST_VECTOR_SPACE,
    )
    assert written == [1]
    np.testing.assert_array_equal(catalog.vectors(1).hybrid, vectors[0])
    assert catalog.vectors(2).hybrid is None
    with pytest.raises(InvalidVector, match="product 1"):
        HydrateQueue(catalog).store(
            [VectorUpdate(product_id=1, version=2, hybrid=np.zeros(5, np.float32))],
            TEST_VECTOR_SPACE,
        )
    bad = vectors[0].copy()
    bad[3] = np.nan
    with pytest.raises(InvalidVector, match="NaN"):
        HydrateQueue(catalog).store(
            [VectorUpdate(product_id=1, version=2, hybrid=bad)], TEST_VECTOR_SPACE
        )
    with pytest.raises(EmbedderMismatch, match="soko reindex"):
        HydrateQueue(catalog).store(
            [VectorUpdate(product_id=1, version=2, hybrid=vectors[0])],
            VectorSpace("another-embedder", 0.6, 0.4),
        )
    assert SpaceRecord(catalog).get() == TEST_SPACE


def test_a_mark_skips_rows_that_changed_after_the_claim(catalog: Catalog) -> None:
    seed_catalog(catalog, range(1, 6))
    queue = IngestQueue(catalog)
    with queue.claim(10) as claim:
        rows = claim.rows
        assert rows.upserts.product_ids.tolist() == [1, 2, 3, 4, 5]
        if not catalog.is_postgresql:  # on PostgreSQL the claim's row lock makes this wait
            catalog.update(3, ProductUpdate(price=1234.0))
        marked = claim.mark_written(rows.upserts.product_ids, rows.upsert_versions)
    if catalog.is_postgresql:
        assert marked == 5
        catalog.update(3, ProductUpdate(price=1234.0))
    else:
        assert marked == 4
    with queue.claim(10) as claim:
        assert claim.rows.upserts.product_ids.tolist() == [3]
        assert claim.rows.upserts.prices.tolist() == [1234.0]


def test_deleted_rows_are_claimed_for_deletion_even_without_vectors(catalog: Catalog) -> None:
    catalog.import_products(product_creates([1, 2]))
    catalog.delete(2)
    with IngestQueue(catalog).claim(10) as claim:
        assert claim.rows.upserts.product_ids.tolist() == []
        assert claim.rows.delete_ids.tolist() == [2]
