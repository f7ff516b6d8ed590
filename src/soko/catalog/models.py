"""The catalog's tables: `products` (the source of truth) and `catalog_meta`.

A product row carries its own ingestion state. `version` is bumped by every change of the
row (an edit, new vectors, a delete); `written_version` is the version last written to (or
removed from) Milvus. The row is *pending* while the two differ and it has something to
write: a hybrid vector, or a deletion. The partial index `ix_products_pending` holds exactly
the pending rows, so finding work costs O(pending), not O(catalog).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from soko.products import CATEGORY_MAX_BYTES

NAME_MAX_CHARS = 1000
DESCRIPTION_MAX_CHARS = 20_000
IMAGE_SOURCE_MAX_CHARS = 2048

#: Naming convention, so that migrations and models name constraints the same way.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (stored naive, as UTC) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: BIGINT on PostgreSQL; on SQLite exactly INTEGER (also 64-bit), which makes the id the
#: table's rowid: rows are stored in id order and found by id without a second index.
PRODUCT_ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ProductRow(Base):
    """One product: its fields and its hydrate and ingest state (its vectors live beside it).

    The row stays narrow on purpose: the ingest worker's mark rewrites every row it marks,
    and with 3 KB of vectors inline each mark would rewrite a page per row (measured on
    SQLite: 37 ms per 1000 rows instead of a few).
    """

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(PRODUCT_ID, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS))
    description: Mapped[str] = mapped_column(Text, default="")
    # Milvus's `category` field is VARCHAR(64): longer categories are rejected, not cut.
    category: Mapped[str] = mapped_column(String(CATEGORY_MAX_BYTES))
    price: Mapped[float] = mapped_column(Double)
    seller_id: Mapped[int] = mapped_column(BigInteger)
    image_url: Mapped[str | None] = mapped_column(String(IMAGE_SOURCE_MAX_CHARS))
    image_path: Mapped[str | None] = mapped_column(String(IMAGE_SOURCE_MAX_CHARS))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    # Ingestion state.
    version: Mapped[int] = mapped_column(Integer, default=1)
    written_version: Mapped[int | None] = mapped_column(Integer)

    # Hydration state: `hydrate_needed` is set when the text or image source changes;
    # `has_vector` says whether product_vectors holds a hybrid vector for the product.
    hydrate_needed: Mapped[bool] = mapped_column(Boolean, default=True)
    has_vector: Mapped[bool] = mapped_column(Boolean, default=False)
    last_hydrated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    hydrate_error: Mapped[str | None] = mapped_column(Text)
    hydrate_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_hydrate_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ProductVectorsRow(Base):
    """A product's vectors as float32 little-endian bytes, `dim * 4` long each."""

    __tablename__ = "product_vectors"

    product_id: Mapped[int] = mapped_column(
        PRODUCT_ID, ForeignKey("products.id"), primary_key=True, autoincrement=False
    )
    image_vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    text_vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    hybrid_vector: Mapped[bytes] = mapped_column(LargeBinary)
    #: The photo's perceptual hash (soko.embedding.fingerprint.STORED_HASH, signed 64-bit);
    #: None without a photo, or hydrated before hashes were stored.
    image_hash: Mapped[int | None] = mapped_column(BigInteger)


#: Rows the ingest worker must write: changed since last written, with a vector or deleted.
#: Queries use this very clause: the SQLite and PostgreSQL planners use the partial index
#: `ix_products_pending` only when the query repeats its predicate.
PENDING = text(
    "(written_version IS NULL OR version != written_version) AND (deleted OR has_vector)"
)


Index(
    "ix_products_pending",
    ProductRow.__table__.c.id,
    sqlite_where=PENDING,
    postgresql_where=PENDING,
)
Index("ix_products_category", ProductRow.__table__.c.category)
Index("ix_products_seller_id", ProductRow.__table__.c.seller_id)


class CatalogMeta(Base):
    """Catalog-wide facts, e.g. which embedder and fusion weights made the stored vectors."""

    __tablename__ = "catalog_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


#: catalog_meta key: `vector_space_id` of every vector stored on the rows.
META_VECTOR_SPACE = "vector_space"
#: catalog_meta key: the media roots `soko import` confined local image paths to (a JSON list).
META_MEDIA_ROOTS = "media_roots"

PRODUCTS = cast(Table, ProductRow.__table__)
VECTORS = cast(Table, ProductVectorsRow.__table__)
META_TABLE = cast(Table, CatalogMeta.__table__)


def count_pending(conn: Connection) -> int:
    """How many rows the ingest worker still has to write (or delete)."""
    return int(conn.execute(select(func.count()).select_from(PRODUCTS).where(PENDING)).scalar_one())
