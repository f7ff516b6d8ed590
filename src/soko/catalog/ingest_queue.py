"""The ingest queue: pending products claimed in batches and marked by compare-and-set.

A claimed batch carries each row's `version`. After the worker has written the batch to
Milvus it marks `written_version = version` only `WHERE version` is still the one it read,
so an edit that lands while the batch is in flight keeps the row pending and is written by
a later batch: no update is lost, and nothing is marked that was not written.

On PostgreSQL the claim is `SELECT ... FOR UPDATE SKIP LOCKED` inside a transaction that
stays open until the mark: concurrent workers skip each other's rows and claim disjoint
batches, and a worker that dies releases its rows when its connection drops. On SQLite the
read is a short transaction and the mark another one (SQLite has no row locks; one worker
per SQLite catalog is the supported set-up, and a second one would only repeat writes).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, Connection, RootTransaction, Select, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from soko.catalog.models import PENDING, PRODUCTS, VECTORS, count_pending
from soko.catalog.products import Catalog
from soko.embedding.space import DIM
from soko.products import ProductBatch

log = logging.getLogger(__name__)

P = PRODUCTS.c
V = VECTORS.c


class unix_seconds(FunctionElement[int]):  # noqa: N801 (an SQL function)
    """Whole Unix seconds of a timestamp column, computed by the database (0 for NULL).

    Computing it in SQL spares the claim a datetime object per row and column.
    """

    type = BigInteger()
    inherit_cache = True


@compiles(unix_seconds, "sqlite")
def _unix_seconds_sqlite(element: unix_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return (
        f"COALESCE(CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER), 0)"
    )


@compiles(unix_seconds, "postgresql")
def _unix_seconds_postgresql(element: unix_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"COALESCE(CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT), 0)"


_CLAIM_COLUMNS = (
    P.id,
    P.version,
    P.deleted,
    P.name,
    P.category,
    P.price,
    P.seller_id,
    P.image_url,
    unix_seconds(P.created_at),
    unix_seconds(P.last_hydrated_at),
    V.hybrid_vector,
)


@dataclass(frozen=True)
class ClaimedRows:
    """One claimed batch: products to upsert (with their versions) and rows to delete."""

    upserts: ProductBatch
    upsert_versions: npt.NDArray[np.int64]
    delete_ids: npt.NDArray[np.int64]
    delete_versions: npt.NDArray[np.int64]
    #: Rows whose stored vector is unusable (wrong size): left pending, reported.
    bad_ids: list[int]
    last_id: int

    def __len__(self) -> int:
        return len(self.upserts) + len(self.delete_ids) + len(self.bad_ids)


def _claimed(rows: Sequence[Sequence[Any]], dim: int) -> ClaimedRows:
    width = dim * 4
    ids: list[int] = []
    versions: list[int] = []
    blobs: list[bytes] = []
    names: list[str] = []
    categories: list[str] = []
    prices: list[float] = []
    sellers: list[int] = []
    urls: list[str] = []
    created: list[int] = []
    hydrated: list[int] = []
    gone_ids: list[int] = []
    gone_versions: list[int] = []
    bad: list[int] = []
    for pid, version, deleted, name, category, price, seller, url, made, fresh, vector in rows:
        if deleted:
            gone_ids.append(pid)
            gone_versions.append(version)
        elif vector is not None and len(vector) == width:
            ids.append(pid)
            versions.append(version)
            blobs.append(vector)
            names.append(name)
            categories.append(category)
            prices.append(price)
            sellers.append(seller)
            urls.append(url or "")
            created.append(made)
            hydrated.append(fresh)
        else:
            bad.append(pid)
    upserts = ProductBatch.build(
        product_ids=ids,
        embeddings=np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(ids), dim),
        product_names=names,
        categories=categories,
        prices=prices,
        seller_ids=sellers,
        image_urls=urls,
        created_at=created,
        last_hydrated_at=hydrated,
        dim=dim,
    )
    return ClaimedRows(
        upserts=upserts,
        upsert_versions=np.array(versions, dtype=np.int64),
        delete_ids=np.array(gone_ids, dtype=np.int64),
        delete_versions=np.array(gone_versions, dtype=np.int64),
        bad_ids=bad,
        last_id=int(rows[-1][0]) if rows else 0,
    )


#: Mark a batch in one statement: SET written_version = the version written, WHERE the row
#: is still at that version (compare-and-set), joined against the (id, version) pairs.
_MARK_SQLITE = (
    "UPDATE products SET written_version = w.column2 FROM (VALUES {values}) AS w "
    "WHERE products.id = w.column1 AND products.version = w.column2"
)
_MARK_POSTGRESQL = text(
    "UPDATE products AS p SET written_version = w.version "
    "FROM unnest(CAST(:ids AS BIGINT[]), CAST(:versions AS INTEGER[])) AS w(id, version) "
    "WHERE p.id = w.id AND p.version = w.version"
)
#: SQLite allows 32766 bound values per statement.
_SQLITE_MARK_CHUNK = 10_000


def mark_written(
    conn: Connection, ids: npt.NDArray[np.int64], versions: npt.NDArray[np.int64]
) -> int:
    """Compare-and-set `written_version` for (id, version) pairs; returns the rows marked."""
    id_list = [int(i) for i in ids]
    version_list = [int(v) for v in versions]
    if conn.dialect.name == "postgresql":
        result = conn.execute(_MARK_POSTGRESQL, {"ids": id_list, "versions": version_list})
        return int(result.rowcount)
    marked = 0
    for start in range(0, len(id_list), _SQLITE_MARK_CHUNK):
        chunk_ids = id_list[start : start + _SQLITE_MARK_CHUNK]
        chunk_versions = version_list[start : start + _SQLITE_MARK_CHUNK]
        params = tuple(v for pair in zip(chunk_ids, chunk_versions, strict=True) for v in pair)
        sql = _MARK_SQLITE.format(values=",".join(["(?,?)"] * len(chunk_ids)))
        marked += int(conn.exec_driver_sql(sql, params).rowcount)
    return marked


class Claim:
    """A claimed batch. Call `mark_written` (if at all) after the Milvus write, then `close`.

    On PostgreSQL the claim owns a connection whose transaction holds the rows' locks;
    `close(commit=True)` commits the marks and releases them, `close(commit=False)` (or a
    dropped connection, when the process dies) rolls back and leaves the rows pending. A
    claim may be handed to another thread, as long as one thread uses it at a time.
    """

    def __init__(
        self,
        catalog: Catalog,
        rows: ClaimedRows,
        connection: Connection | None = None,
        transaction: RootTransaction | None = None,
    ) -> None:
        self.rows = rows
        self._catalog = catalog
        self._connection = connection
        self._transaction = transaction

    def mark_written(self, ids: npt.NDArray[np.int64], versions: npt.NDArray[np.int64]) -> int:
        """Set written_version where the row is still at the version written. Returns count."""
        if len(ids) == 0:
            return 0
        if self._connection is not None:
            return mark_written(self._connection, ids, versions)
        with self._catalog.writing() as conn:
            return mark_written(conn, ids, versions)

    def close(self, *, commit: bool) -> None:
        if self._connection is None:
            return
        try:
            if self._transaction is not None and self._transaction.is_active:
                if commit:
                    self._transaction.commit()
                else:
                    self._transaction.rollback()
        finally:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.close(commit=exc_type is None)


class IngestQueue:
    """Pending products of one catalog, claimed batch by batch in id order."""

    def __init__(self, catalog: Catalog, *, dim: int = DIM) -> None:
        self.catalog = catalog
        self.dim = dim

    def _claim_statement(self, limit: int, after_id: int) -> Select[Any]:
        statement = (
            select(*_CLAIM_COLUMNS)
            .select_from(PRODUCTS.outerjoin(VECTORS, V.product_id == P.id))
            .where(PENDING, P.id > after_id)
            .order_by(P.id)
            .limit(limit)
        )
        if self.catalog.is_postgresql:
            statement = statement.with_for_update(skip_locked=True, of=PRODUCTS)
        return statement

    def claim(self, limit: int, after_id: int = 0) -> Claim:
        """Up to `limit` pending rows with id > after_id (empty when there are none).

        Use it as a context manager, or call `close` yourself.
        """
        statement = self._claim_statement(limit, after_id)
        dim = self.dim
        if not self.catalog.is_postgresql:
            with self.catalog.reading() as conn:
                rows = conn.execute(statement).all()
            return Claim(self.catalog, _claimed(rows, dim))
        # The transaction (and the row locks) lasts until the claim is closed.
        try:
            connection = self.catalog.engine.connect()
        except OperationalError as exc:
            raise self.catalog.unavailable(exc) from exc
        try:
            transaction = connection.begin()
            claimed = _claimed(connection.execute(statement).all(), dim)
        except BaseException as exc:
            connection.close()
            if isinstance(exc, OperationalError):
                raise self.catalog.unavailable(exc) from exc
            raise
        return Claim(self.catalog, claimed, connection, transaction)

    def pending_count(self) -> int:
        with self.catalog.reading() as conn:
            return count_pending(conn)

    # --- the state reconcile compares with Milvus ----------------------------------------
    def iter_states(self, batch_size: int = 10_000) -> Iterator[tuple[int, bool, bool, int]]:
        """(id, in_milvus_expected, deleted, last_hydrated_at) for every row, in id order.

        `in_milvus_expected`: the catalog says Milvus holds this row's current version.
        """
        after = 0
        while True:
            with self.catalog.reading() as conn:
                rows = conn.execute(
                    select(
                        P.id,
                        P.deleted,
                        P.version,
                        P.written_version,
                        P.has_vector,
                        unix_seconds(P.last_hydrated_at),
                    )
                    .where(P.id > after)
                    .order_by(P.id)
                    .limit(batch_size)
                ).all()
            if not rows:
                return
            for pid, deleted, version, written, has_vector, hydrated in rows:
                expected = bool(has_vector) and not deleted and written == version
                yield int(pid), expected, bool(deleted), int(hydrated)
            after = int(rows[-1][0])

    def mark_unwritten(self, product_ids: Sequence[int]) -> int:
        """Make rows pending again (Milvus lost them or holds another version)."""
        count = 0
        with self.catalog.writing() as conn:
            for start in range(0, len(product_ids), 1000):
                chunk = [int(i) for i in product_ids[start : start + 1000]]
                result = conn.execute(
                    update(PRODUCTS).where(P.id.in_(chunk)).values(written_version=None)
                )
                count += int(result.rowcount)
        return count
