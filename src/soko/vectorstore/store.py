"""`VectorStore`: the one place that talks to Milvus (Lite or server, the same code).

Everything above this module speaks numpy arrays, `ProductBatch`, `SearchFilters` and
`ProductHit`; nothing above it imports pymilvus. What differs between Milvus Lite and a
server is asked of the store's `Backend`, chosen once at connect.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from pymilvus.exceptions import MilvusException

from soko.config import IndexType, Settings
from soko.embedding.space import DIM
from soko.errors import InvalidInput, VectorStoreError, VectorStoreUnavailable
from soko.products import ProductBatch, ProductHit, ProductRecord
from soko.vectorstore import schema as sch
from soko.vectorstore.backends import Backend, backend_for
from soko.vectorstore.breaker import BreakerStatus, CircuitBreaker
from soko.vectorstore.errors import call_with_retry, is_not_loaded, translate
from soko.vectorstore.filters import SearchFilters, id_list
from soko.vectorstore.scores import distance_to_score, threshold_radius
from soko.vectorstore.wire import write_request

log = logging.getLogger(__name__)

#: Milvus caps topk at 16384.
MILVUS_TOPK_MAX = 16_384
#: Session consistency: a process reads its own writes, other readers are not slowed down.
CONSISTENCY = "Session"
INDEX_POLL_S = 0.5


@dataclass(frozen=True)
class WriteTiming:
    """Where one write's time went: building the request here, and the Milvus call(s)."""

    rows: int
    build_s: float
    rpc_s: float


@dataclass(frozen=True)
class StoreStats:
    backend: str
    location: str
    collection: str
    status: str
    row_count: int
    index_type: str
    index_state: str
    indexed_rows: int
    pending_index_rows: int
    embedder: str | None
    server_version: str


def _record(entity: dict[str, Any], product_id: int, with_vector: bool) -> ProductRecord:
    vector = None
    if with_vector:
        vector = np.asarray(entity[sch.VECTOR_FIELD], dtype=np.float32)
    return ProductRecord(
        product_id=int(product_id),
        product_name=str(entity["product_name"]),
        category=str(entity["category"]),
        price=float(entity["price"]),
        seller_id=int(entity["seller_id"]),
        image_url=str(entity["image_url"]),
        created_at=int(entity["created_at"]),
        last_hydrated_at=int(entity["last_hydrated_at"]),
        embedding=vector,
    )


def _hit(entity: dict[str, Any], product_id: int, distance: float) -> ProductHit:
    record = _record(entity, product_id, with_vector=False)
    return ProductHit(
        product_id=record.product_id,
        product_name=record.product_name,
        category=record.category,
        price=record.price,
        seller_id=record.seller_id,
        image_url=record.image_url,
        score=distance_to_score(distance),
        distance=distance,
    )


class VectorStore:
    """The `product_embeddings` collection on one Milvus deployment."""

    def __init__(
        self,
        backend: Backend,
        settings: Settings,
        spec: sch.CollectionSpec,
        *,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._backend = backend
        self._client = backend.connect()
        self._settings = settings
        self.spec = spec
        self._closed = False
        self._server_version: str | None = None
        #: Shared with this store's clones: one view of whether Milvus is up.
        self.breaker = breaker or CircuitBreaker(probe_interval_s=settings.milvus_probe_s)
        self._reloading = threading.Lock()

    # --- connection ----------------------------------------------------------------------
    @classmethod
    def connect(cls, settings: Settings, space_id: str, *, dim: int = DIM) -> VectorStore:
        """Connect to the configured Milvus and make sure the collection is there and holds
        vectors of `space_id` (a `VectorSpace.id`)."""
        store = cls(backend_for(settings), settings, spec_from_settings(settings, space_id, dim))
        try:
            store.ensure_collection()
        except BaseException:
            # Refused (e.g. EmbedderMismatch): release the connection, and with it a Lite
            # file, so that `soko reindex` or another process can open it.
            store.close()
            raise
        return store

    @classmethod
    def open_existing(cls, settings: Settings) -> VectorStore:
        """Connect without checking the vector space (for health, stats and reindex)."""
        return cls(backend_for(settings), settings, spec_from_settings(settings, "", DIM))

    def close(self) -> None:
        """Close the connection; the last store on a Lite file also releases the file."""
        if self._closed:
            return
        self._closed = True
        try:
            self._client.close()
        except MilvusException as exc:  # closing a dead channel is not worth failing for
            log.debug("closing milvus client: %s", exc)
        self._backend.release()

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        what: str,
        fn: Any,
        *,
        retry: bool = True,
        fail_fast: bool = False,
        timeout_s: float | None = None,
    ) -> Any:
        """One Milvus operation through the breaker. `fail_fast`: a read someone waits for
        (a search, a lookup): while Milvus is down it fails at once instead of retrying."""
        try:
            return call_with_retry(
                what,
                fn,
                timeout_s=timeout_s or self._settings.milvus_timeout_s,
                retry=retry,
                breaker=self.breaker,
                probe=self._probe,
                fail_fast=fail_fast,
            )
        except VectorStoreUnavailable as exc:
            if exc.__cause__ is not None and is_not_loaded(exc.__cause__):
                self._reload_in_background()
            raise

    def _probe(self) -> None:
        """The breaker's check that Milvus answers again: one cheap call, a short timeout."""
        self._client.get_server_version(timeout=self._settings.milvus_probe_s)

    def _reload_in_background(self) -> None:
        """Milvus answered "collection not loaded" (it restarted): load it again, once, off
        the caller's thread; callers get 503 + Retry-After meanwhile."""
        if self._closed or not self._reloading.acquire(blocking=False):
            return

        def reload() -> None:
            try:
                log.warning("collection %s is not loaded (Milvus restarted?): loading", self.name)
                self.load()
                log.warning("collection %s loaded again", self.name)
            except VectorStoreError as exc:
                log.warning("re-loading collection %s failed: %s", self.name, exc)
            finally:
                self._reloading.release()

        threading.Thread(target=reload, name="soko-milvus-reload", daemon=True).start()

    def milvus_status(self) -> BreakerStatus:
        """Whether Milvus is known to be down, without asking it (for /health)."""
        return self.breaker.status()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def backend(self) -> str:
        """`lite` or `server`, for reports; behaviour is asked of the backend itself."""
        return self._backend.name

    @property
    def max_writers(self) -> int:
        return self._backend.max_writers

    @property
    def default_writers(self) -> int:
        return self._backend.default_writers

    # --- collection lifecycle --------------------------------------------------------------
    def exists(self) -> bool:
        return bool(
            self._call(
                "has_collection",
                lambda t: self._client.has_collection(self.name, timeout=t),
                fail_fast=True,
            )
        )

    def ensure_collection(self) -> bool:
        """Create the collection if missing, else check it is compatible; load it. True if new."""
        if not self.spec.space_id:
            raise VectorStoreError("ensure_collection needs a vector space")
        created = False
        if not self.exists():
            self._create()
            created = True
        else:
            described = self.describe()
            sch.check_schema(described, self.spec)
            sch.check_embedder(dict(described.get("properties", {})), self.spec)
            sch.check_index(self.index_info(), self.spec)
        self.load()
        return created

    def _create(self) -> None:
        schema = sch.build_schema(self.spec)
        index_params = sch.build_index_params(self._client, self.spec)

        def create(timeout: float) -> None:
            if self._client.has_collection(self.name, timeout=timeout):
                return  # another worker won the race; its collection is checked by the caller
            self._client.create_collection(
                self.name,
                schema=schema,
                index_params=index_params,
                consistency_level=CONSISTENCY,
                num_partitions=sch.NUM_PARTITIONS,
                properties=sch.collection_properties(self.spec),
                timeout=timeout,
            )

        self._call("create_collection", create)
        log.info(
            "created collection %s (%s, nlist=%d, embedder=%s)",
            self.name,
            self.spec.index_type.value,
            self.spec.nlist,
            self.spec.space_id,
        )

    def describe(self) -> dict[str, Any]:
        return dict(
            self._call(
                "describe_collection",
                lambda t: self._client.describe_collection(self.name, timeout=t),
                fail_fast=True,
            )
        )

    def recorded_embedder(self) -> str | None:
        props = dict(self.describe().get("properties", {}))
        value = props.get(sch.PROP_EMBEDDER)
        return str(value) if value is not None else None

    def index_info(self) -> dict[str, Any]:
        return dict(
            self._call(
                "describe_index",
                lambda t: self._client.describe_index(self.name, sch.VECTOR_FIELD, timeout=t),
                fail_fast=True,
            )
            or {}
        )

    def drop(self) -> None:
        """Drop the collection and everything in it (used by reindex and tests)."""
        self._call("drop_collection", lambda t: self._client.drop_collection(self.name, timeout=t))

    def load(self) -> None:
        replicas = self._settings.replica_number
        self._call(
            "load_collection",
            lambda t: self._client.load_collection(self.name, replica_number=replicas, timeout=t),
        )

    def release(self) -> None:
        self._call(
            "release_collection", lambda t: self._client.release_collection(self.name, timeout=t)
        )

    def rebuild_index(self, nlist: int | None = None, wait_timeout_s: float = 3600.0) -> None:
        """Drop and re-create the vector index (optionally with a new nlist), wait, reload."""
        if nlist is not None:
            if not 1 <= nlist <= 65536:
                raise InvalidInput("nlist must be between 1 and 65536", field="nlist")
            self.spec = replace(self.spec, nlist=nlist)
        index_params = sch.build_index_params(self._client, self.spec)
        self.release()
        self._call(
            "drop_index", lambda t: self._client.drop_index(self.name, sch.VECTOR_FIELD, timeout=t)
        )
        self._call(
            "create_index", lambda t: self._client.create_index(self.name, index_params, timeout=t)
        )
        self.wait_for_index(wait_timeout_s)
        self.load()
        log.info("rebuilt index on %s with %s", self.name, self.spec.index_build_params())

    def wait_for_index(self, timeout_s: float) -> None:
        """Block until every row is covered by the vector index (or raise after timeout_s)."""
        deadline = time.monotonic() + timeout_s
        while True:
            info = self.index_info()
            if str(info.get("state", "Finished")) == "Finished" and not int(
                info.get("pending_index_rows", 0) or 0
            ):
                return
            if str(info.get("state")) == "Failed":
                raise VectorStoreError(f"index build failed: {info.get('index_state_fail_reason')}")
            if time.monotonic() > deadline:
                raise VectorStoreError(f"index not built after {timeout_s:.0f}s: {info}")
            time.sleep(INDEX_POLL_S)

    def flush(self) -> None:
        """Seal what was written so the vector index covers it (docs/ingest.md: on Lite, a
        search scans unflushed rows one by one)."""
        self._call("flush", lambda t: self._client.flush(self.name, timeout=t))

    def writes_done(self, rows_written: int) -> None:
        """End of a run of writes: flush where the backend says it pays (docs/ingest.md)."""
        if self._backend.flush_after(rows_written):
            self.flush()

    # --- writes --------------------------------------------------------------------------
    def upsert(self, batch: ProductBatch) -> int:
        """Insert or replace a batch in one request. Returns the number of rows written."""
        return self.write(batch).rows

    def write(self, batch: ProductBatch) -> WriteTiming:
        """Upsert a batch, timing request building and the Milvus call(s)."""
        if len(batch) == 0:
            return WriteTiming(0, 0.0, 0.0)
        if batch.embeddings.shape[1] != self.spec.dim:
            raise VectorStoreError(
                f"batch vectors have {batch.embeddings.shape[1]} dims, collection {self.spec.dim}"
            )
        # The request is built from numpy (wire.py) and sent through pymilvus's connection
        # handler, the only way to hand it a prebuilt request.
        handler = self._client._get_connection()
        upsert = self._upsert_is_safe()
        started = time.perf_counter()
        request = write_request(
            self.name, batch, upsert=upsert, db_name=self._settings.milvus_db_name
        )
        built = time.perf_counter()
        if upsert:
            result = self._call(
                "upsert", lambda t: handler.upsert(self.name, [], upsert_param=request, timeout=t)
            )
        else:
            # Milvus < 2.3.10 hashes the primary key instead of the partition key on upsert
            # (milvus-io/milvus#30607), filing rows under the wrong category partition. Its
            # upsert is a delete plus an insert anyway, so do those two explicitly.
            self.delete(batch.product_ids)
            result = self._call(
                "insert",
                lambda t: handler.batch_insert(self.name, [], insert_param=request, timeout=t),
            )
        done = time.perf_counter()
        log.debug("wrote %d rows into %s", len(batch), self.name)
        rows = int(
            getattr(result, "succ_count", 0) or getattr(result, "upsert_count", 0) or len(batch)
        )
        return WriteTiming(rows, built - started, done - built)

    def clone(self) -> VectorStore:
        """Another store on the same collection over its own connection (another writer)."""
        return VectorStore(self._backend, self._settings, self.spec, breaker=self.breaker)

    def _upsert_is_safe(self) -> bool:
        if self._server_version is None:
            self._server_version = str(
                self._call(
                    "get_server_version", lambda t: self._client.get_server_version(timeout=t)
                )
            )
        return self._backend.upsert_is_safe(self._server_version)

    def delete(self, product_ids: Sequence[int] | npt.NDArray[np.int64]) -> None:
        ids = [int(i) for i in product_ids]
        if not ids:
            return
        expression = f"{sch.PRIMARY_KEY} in {id_list(ids)}"
        self._call("delete", lambda t: self._client.delete(self.name, filter=expression, timeout=t))

    # --- reads ---------------------------------------------------------------------------
    def get(
        self, product_id: int, *, with_vector: bool = True, strong: bool = False
    ) -> ProductRecord | None:
        found = self.get_many([product_id], with_vector=with_vector, strong=strong)
        return found.get(int(product_id))

    def get_many(
        self, product_ids: Sequence[int], *, with_vector: bool = False, strong: bool = False
    ) -> dict[int, ProductRecord]:
        """The stored rows for these ids. `strong` waits until every earlier write is visible:
        Milvus 2.3.5 answers deletes with timestamp 0, so Session consistency does not make a
        process see its own deletes (nor does a fresh process see anything recent)."""
        ids = [int(i) for i in product_ids]
        if not ids:
            return {}
        fields = [sch.PRIMARY_KEY, *sch.OUTPUT_FIELDS]
        if with_vector:
            fields.append(sch.VECTOR_FIELD)
        rows = self._call(
            "get",
            lambda t: self._client.query(
                self.name,
                filter=f"{sch.PRIMARY_KEY} in {id_list(ids)}",
                output_fields=fields,
                timeout=t,
                **_consistency(strong),
            ),
            fail_fast=True,
        )
        return {int(r[sch.PRIMARY_KEY]): _record(r, r[sch.PRIMARY_KEY], with_vector) for r in rows}

    def count(self, *, strong: bool = False) -> int:
        rows = self._call(
            "count",
            lambda t: self._client.query(
                self.name, filter="", output_fields=["count(*)"], timeout=t, **_consistency(strong)
            ),
            fail_fast=True,
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def iter_versions(self, batch_size: int = 5000) -> Iterator[tuple[int, int]]:
        """Every (product_id, last_hydrated_at) in the collection, in batches."""
        iterator = self._call(
            "query_iterator",
            lambda t: self._client.query_iterator(
                self.name,
                batch_size=batch_size,
                filter=f"{sch.PRIMARY_KEY} >= {-(2**63 - 1)}",
                output_fields=[sch.PRIMARY_KEY, "last_hydrated_at"],
                timeout=t,
            ),
        )
        try:
            while True:
                try:
                    page = iterator.next()
                except MilvusException as exc:
                    raise translate(exc, "query_iterator") from exc
                if not page:
                    return
                for row in page:
                    yield int(row[sch.PRIMARY_KEY]), int(row["last_hydrated_at"])
        finally:
            iterator.close()

    def search(
        self,
        vectors: npt.NDArray[np.float32],
        *,
        limit: int = 10,
        threshold: float | None = None,
        filters: SearchFilters | None = None,
        nprobe: int | None = None,
    ) -> list[list[ProductHit]]:
        """Top-`limit` hits per query vector, best first, with score >= threshold."""
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        if queries.ndim != 2 or queries.shape[1] != self.spec.dim:
            raise InvalidInput(f"query vectors must have {self.spec.dim} dimensions")
        if not np.isfinite(queries).all():
            raise InvalidInput("query vector contains NaN or inf")
        if not 1 <= limit <= MILVUS_TOPK_MAX:
            raise InvalidInput(f"limit must be between 1 and {MILVUS_TOPK_MAX}", field="limit")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InvalidInput("threshold must be between 0 and 1", field="threshold")
        params = self._search_params(nprobe)
        if threshold is not None:
            params["radius"] = threshold_radius(threshold)
        expression = filters.expression() if filters else ""
        data = list(queries)

        raw = self._call(
            "search",
            lambda t: self._client.search(
                self.name,
                data=data,
                limit=limit,
                filter=expression,
                output_fields=list(sch.OUTPUT_FIELDS),
                anns_field=sch.VECTOR_FIELD,
                search_params={"metric_type": sch.METRIC, "params": params},
                timeout=t,
            ),
            fail_fast=True,
        )
        results: list[list[ProductHit]] = []
        for hits in raw:
            row: list[ProductHit] = []
            for hit in hits:
                found = _hit(hit["entity"], hit.id, float(hit["distance"]))
                if threshold is None or found.score >= threshold:
                    row.append(found)
            row.sort(key=lambda h: -h.score)
            results.append(row)
        return results

    def _search_params(self, nprobe: int | None) -> dict[str, Any]:
        if self.spec.index_type is IndexType.HNSW:
            return {"ef": nprobe or self._settings.hnsw_ef}
        return {"nprobe": nprobe or self._settings.nprobe}

    # --- health --------------------------------------------------------------------------
    def stats(self) -> StoreStats:
        # The first call has the probe's short timeout: health must not hang on a stalled
        # Milvus for MILVUS_TIMEOUT. Once it answered, the rest get the usual one.
        version = str(
            self._call(
                "get_server_version",
                lambda t: self._client.get_server_version(timeout=t),
                fail_fast=True,
                timeout_s=self._settings.milvus_probe_s,
            )
        )
        if not self.exists():
            return StoreStats(
                self.backend,
                self._backend.location,
                self.name,
                "no collection",
                0,
                "",
                "",
                0,
                0,
                None,
                version,
            )
        info = self.index_info()
        return StoreStats(
            backend=self.backend,
            location=self._backend.location,
            collection=self.name,
            status="ok",
            row_count=self.count(),
            index_type=str(info.get("index_type", "")),
            index_state=str(info.get("state", "")),
            indexed_rows=int(info.get("indexed_rows", 0) or 0),
            pending_index_rows=int(info.get("pending_index_rows", 0) or 0),
            embedder=self.recorded_embedder(),
            server_version=version,
        )


def _consistency(strong: bool) -> dict[str, str]:
    return {"consistency_level": "Strong"} if strong else {}


def spec_from_settings(settings: Settings, space_id: str, dim: int) -> sch.CollectionSpec:
    return sch.CollectionSpec(
        name=settings.collection_name,
        space_id=space_id,
        dim=dim,
        index_type=settings.index_type,
        nlist=settings.nlist,
        hnsw_m=settings.hnsw_m,
        hnsw_ef_construction=settings.hnsw_ef_construction,
    )
