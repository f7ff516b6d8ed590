"""`Catalog`: the product catalog's database, and its products: reads, writes, imports.

Every change to a product bumps its `version`; that is what makes a product pending for the
ingest worker (`soko.catalog.ingest_queue`) and what the compare-and-set writes check. The
hydrate queue, the ingest queue and the vector-space record are modules of their own, each
working on a `Catalog`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from soko.catalog.database import IMMEDIATE, create_catalog_engine, migrate, safe_url
from soko.catalog.models import PRODUCTS, VECTORS, count_pending
from soko.catalog.schemas import CatalogCounts, Product, ProductCreate, ProductUpdate
from soko.catalog.vectors import StoredVectors, vector_from_bytes
from soko.errors import (
    CatalogUnavailable,
    InvalidInput,
    ProductExists,
    ProductNotFound,
)

log = logging.getLogger(__name__)

P = PRODUCTS.c
V = VECTORS.c

#: Columns a change to which makes the stored vectors stale.
EMBEDDED_FIELDS = frozenset({"name", "description", "image_url", "image_path"})
CONTENT_FIELDS = (
    "name",
    "description",
    "category",
    "price",
    "seller_id",
    "image_url",
    "image_path",
)
_PRODUCT_COLUMNS = (
    P.id,
    P.name,
    P.description,
    P.category,
    P.price,
    P.seller_id,
    P.image_url,
    P.image_path,
    P.created_at,
    P.updated_at,
    P.deleted,
    P.version,
    P.written_version,
    P.has_vector,
    P.last_hydrated_at,
    P.hydrate_error,
    P.hydrate_attempts,
    P.next_hydrate_at,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _product(row: Any) -> Product:
    """A Product from a result row of `_PRODUCT_COLUMNS`."""
    m = row._mapping
    return Product(
        product_id=int(m["id"]),
        name=m["name"],
        description=m["description"],
        category=m["category"],
        price=float(m["price"]),
        seller_id=int(m["seller_id"]),
        image_url=m["image_url"],
        image_path=m["image_path"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        deleted=bool(m["deleted"]),
        version=int(m["version"]),
        written_version=m["written_version"],
        has_vector=bool(m["has_vector"]),
        last_hydrated_at=m["last_hydrated_at"],
        hydrate_error=m["hydrate_error"],
        hydrate_attempts=int(m["hydrate_attempts"]),
        next_hydrate_at=m["next_hydrate_at"],
    )


@dataclass
class ImportResult:
    inserted: int = 0
    updated: int = 0
    restored: int = 0
    unchanged: int = 0

    def add(self, other: ImportResult) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.restored += other.restored
        self.unchanged += other.unchanged


class Catalog:
    """The product catalog on one database (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def connect(cls, database_url: str, *, run_migrations: bool = True) -> Catalog:
        catalog = cls(create_catalog_engine(database_url))
        if run_migrations:
            try:
                migrate(catalog.engine)
            except BaseException:
                catalog.close()
                raise
        return catalog

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def location(self) -> str:
        return safe_url(self.engine.url)

    # --- transactions --------------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection, connection.begin():
                yield connection
        except OperationalError as exc:
            raise self.unavailable(exc) from exc

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction (`BEGIN IMMEDIATE` on SQLite: it takes the write lock now)."""
        try:
            with (
                self.engine.connect().execution_options(**{IMMEDIATE: True}) as connection,
                connection.begin(),
            ):
                yield connection
        except OperationalError as exc:
            raise self.unavailable(exc) from exc

    def unavailable(self, exc: OperationalError) -> CatalogUnavailable:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        return CatalogUnavailable(f"catalog database {self.location} failed: {reason}")

    # --- reads ---------------------------------------------------------------------------
    def get(self, product_id: int, *, include_deleted: bool = False) -> Product:
        """The product, or ProductNotFound (also for deleted ones unless include_deleted)."""
        with self.reading() as conn:
            row = conn.execute(select(*_PRODUCT_COLUMNS).where(P.id == product_id)).first()
        if row is None or (row.deleted and not include_deleted):
            raise ProductNotFound(product_id)
        return _product(row)

    def get_many(
        self, product_ids: Sequence[int], *, include_deleted: bool = False
    ) -> dict[int, Product]:
        ids = [int(i) for i in product_ids]
        found: dict[int, Product] = {}
        with self.reading() as conn:
            for start in range(0, len(ids), 1000):
                rows = conn.execute(
                    select(*_PRODUCT_COLUMNS).where(P.id.in_(ids[start : start + 1000]))
                ).all()
                for row in rows:
                    if include_deleted or not row.deleted:
                        found[int(row.id)] = _product(row)
        return found

    def hybrid_vector(self, product_id: int) -> npt.NDArray[np.float32] | None:
        """The live product's hybrid vector (None until hydrated); ProductNotFound otherwise.

        One indexed read: "similar to this product" starts here, on the hot path.
        """
        with self.reading() as conn:
            row = conn.execute(
                select(P.deleted, V.hybrid_vector)
                .select_from(PRODUCTS.outerjoin(VECTORS, V.product_id == P.id))
                .where(P.id == product_id)
            ).first()
        if row is None or row.deleted:
            raise ProductNotFound(product_id)
        return vector_from_bytes(row.hybrid_vector)

    def categories(self) -> list[str]:
        """Distinct categories of live products, sorted."""
        with self.reading() as conn:
            rows = conn.execute(
                select(P.category).where(P.deleted == False).distinct().order_by(P.category)  # noqa: E712 (SQL)
            ).all()
        return [str(row.category) for row in rows]

    def vectors(self, product_id: int, *, live: bool = False) -> StoredVectors:
        """The product's stored vectors; ProductNotFound if unknown (or deleted, if `live`)."""
        with self.reading() as conn:
            row = conn.execute(
                select(
                    P.id, P.deleted, V.image_vector, V.text_vector, V.hybrid_vector, V.image_hash
                )
                .select_from(PRODUCTS.outerjoin(VECTORS, V.product_id == P.id))
                .where(P.id == product_id)
            ).first()
        if row is None or (live and row.deleted):
            raise ProductNotFound(product_id)
        return StoredVectors(
            vector_from_bytes(row.image_vector),
            vector_from_bytes(row.text_vector),
            vector_from_bytes(row.hybrid_vector),
            row.image_hash,
        )

    def counts(self) -> CatalogCounts:
        active = P.deleted == False  # noqa: E712 (SQL)
        with self.reading() as conn:
            total, deleted, unhydrated, errors = conn.execute(
                select(
                    func.count(),
                    func.count().filter(P.deleted == True),  # noqa: E712 (SQL)
                    func.count().filter(active, P.has_vector == False),  # noqa: E712 (SQL)
                    func.count().filter(active, P.hydrate_error.is_not(None)),
                )
            ).one()
            pending_count = count_pending(conn)
        return CatalogCounts(
            total=int(total),
            active=int(total) - int(deleted),
            deleted=int(deleted),
            pending=pending_count,
            unhydrated=int(unhydrated),
            hydrate_errors=int(errors),
        )

    # --- writes --------------------------------------------------------------------------
    def create(self, product: ProductCreate, *, now: datetime | None = None) -> Product:
        """Add a product. A deleted product's id may be reused; a live one is ProductExists."""
        now = now or utcnow()
        with self.writing() as conn:
            existing = conn.execute(select(P.deleted).where(P.id == product.product_id)).first()
            if existing is not None and not existing.deleted:
                raise ProductExists(product.product_id)
            if existing is None:
                try:
                    conn.execute(insert(PRODUCTS), [_new_row(product, now)])
                except IntegrityError:
                    raise ProductExists(product.product_id) from None
            else:
                values = {name: getattr(product, name) for name in CONTENT_FIELDS}
                conn.execute(
                    update(PRODUCTS)
                    .where(P.id == product.product_id)
                    .values(**values, **_content_changed(now), deleted=False, created_at=now)
                )
        return self.get(product.product_id)

    def update(
        self, product_id: int, change: ProductUpdate, *, now: datetime | None = None
    ) -> Product:
        """Apply a partial change. A change of text or image makes the product re-hydrate."""
        now = now or utcnow()
        changes = change.changes()
        with self.writing() as conn:
            row = conn.execute(
                select(*(P[name] for name in CONTENT_FIELDS), P.deleted).where(P.id == product_id)
            ).first()
            if row is None or row.deleted:
                raise ProductNotFound(product_id)
            current = row._mapping
            if changes.get("image_url"):
                changes.setdefault("image_path", None)
            if changes.get("image_path"):
                changes.setdefault("image_url", None)
            changed = {k: v for k, v in changes.items() if current[k] != v}
            if changed:
                values: dict[str, Any] = {**changed, "version": P.version + 1, "updated_at": now}
                if EMBEDDED_FIELDS & changed.keys():
                    values.update(_content_changed(now))
                conn.execute(update(PRODUCTS).where(P.id == product_id).values(**values))
        return self.get(product_id)

    def delete(self, product_id: int, *, now: datetime | None = None) -> Product:
        """Soft-delete: the row stays (so the worker can remove it from Milvus), marked deleted."""
        now = now or utcnow()
        with self.writing() as conn:
            result = conn.execute(
                update(PRODUCTS)
                .where(P.id == product_id, P.deleted == False)  # noqa: E712 (SQL)
                .values(deleted=True, version=P.version + 1, updated_at=now)
            )
            if result.rowcount != 1:
                raise ProductNotFound(product_id)
        return self.get(product_id, include_deleted=True)

    def import_products(
        self, products: Sequence[ProductCreate], *, now: datetime | None = None
    ) -> ImportResult:
        """Upsert a batch: new rows inserted, changed rows updated, identical rows untouched."""
        now = now or utcnow()
        result = ImportResult()
        ids = [p.product_id for p in products]
        if len(set(ids)) != len(ids):
            raise InvalidInput("an import batch must not hold the same product_id twice")
        with self.writing() as conn:
            existing = {
                int(row.id): row._mapping
                for row in conn.execute(
                    select(P.id, P.deleted, *(P[name] for name in CONTENT_FIELDS)).where(
                        P.id.in_(ids)
                    )
                )
            }
            new_rows: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            for product in products:
                current = existing.get(product.product_id)
                if current is None:
                    new_rows.append(_new_row(product, now))
                    result.inserted += 1
                    continue
                values = {name: getattr(product, name) for name in CONTENT_FIELDS}
                changed = {k for k, v in values.items() if current[k] != v}
                if not changed and not current["deleted"]:
                    result.unchanged += 1
                    continue
                if current["deleted"]:
                    result.restored += 1
                else:
                    result.updated += 1
                updates.append(
                    {
                        "b_id": product.product_id,
                        **values,
                        "embedded_changed": bool(EMBEDDED_FIELDS & changed),
                    }
                )
            if new_rows:
                conn.execute(insert(PRODUCTS), new_rows)
            for params in updates:
                values = {k: v for k, v in params.items() if k in CONTENT_FIELDS}
                values.update(deleted=False, version=P.version + 1, updated_at=now)
                if params["embedded_changed"]:
                    values.update(_content_changed(now))
                conn.execute(update(PRODUCTS).where(P.id == params["b_id"]).values(**values))
        return result


def _new_row(product: ProductCreate, now: datetime) -> dict[str, Any]:
    return {
        "id": product.product_id,
        **{name: getattr(product, name) for name in CONTENT_FIELDS},
        "created_at": now,
        "updated_at": now,
        "deleted": False,
        "version": 1,
        "written_version": None,
        "hydrate_needed": True,
        "has_vector": False,
        "hydrate_attempts": 0,
    }


def _content_changed(now: datetime) -> dict[str, Any]:
    """Values for a change of what is embedded: re-hydrate, forget past image failures."""
    return {
        "version": P.version + 1,
        "updated_at": now,
        "hydrate_needed": True,
        "hydrate_error": None,
        "hydrate_attempts": 0,
        "next_hydrate_at": None,
    }
