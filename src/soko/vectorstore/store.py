"""`VectorStore`: the one place that talks to Milvus (Lite or server, the same code).

Everything above this module speaks numpy arrays, `ProductVectors`, `SearchFilters` and
`SearchHit`; nothing above it imports pymilvus.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException
from pymilvus.grpc_gen import common_pb2

from soko.config import IndexType, Settings
from soko.errors import InvalidInput, SokoError, VectorStoreError, VectorStoreLocked
from soko.vectorstore import schema as sch
from soko.vectorstore.batch import ProductVectors
from soko.vectorstore.errors import call_with_retry, translate
from soko.vectorstore.filters import SearchFilters, id_list
from soko.vectorstore.scores import distance_to_score, threshold_radius
from soko.vectorstore.wire import write_request

log = logging.getLogger(__name__)

#: Milvus caps topk at 16384.
MAX_LIMIT = 16_384
#: Session consistency: a process reads its own writes, other readers are not slowed down.
CONSISTENCY = "Session"
INDEX_POLL_S = 0.5


@dataclass(frozen=True)
class StoredProduct:
    """A product as the collection holds it (the vector only when asked for)."""

    product_id: int
    product_name: str
    category: str
    price: float
    seller_id: int
    image_url: str
    created_at: int
    last_hydrated_at: int
    embedding: npt.NDArray[np.float32] | None = None


@dataclass(frozen=True)
class SearchHit:
    product: StoredProduct
    distance: float
    score: float


@dataclass(frozen=True)
class WriteTiming:
    """Where one write's time went: building the request here, and the Milvus call(s)."""

    rows: int
    build_s: float
    rpc_s: float


@dataclass(frozen=True)
class SegmentInfo:
    """One loaded segment as the query nodes see it (server only)."""

    segment_id: int
    partition_id: int
    rows: int
    state: str
    indexed: bool


@dataclass(frozen=True)
class StoreStats:
    backend: str
    collection: str
    status: str
    row_count: int
    index_type: str
    index_state: str
    indexed_rows: int
    pending_index_rows: int
    embedder: str | None
    server_version: str


def _stored(entity: dict[str, Any], product_id: int, with_vector: bool) -> StoredProduct:
    vector = None
    if with_vector:
        vector = np.asarray(entity[sch.VECTOR_FIELD], dtype=np.float32)
    return StoredProduct(
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


class VectorStore:
    """The `product_embeddings` collection on one Milvus deployment."""

    def __init__(self, client: MilvusClient, settings: Settings, spec: sch.CollectionSpec) -> None:
        self._client = client
        self._settings = settings
        self.spec = spec
        self.backend = "lite" if settings.milvus_is_lite else "server"
        self._closed = False
        self._server_version: str | None = None

    # --- connection ----------------------------------------------------------------------
    @classmethod
    def connect(cls, settings: Settings, embedder_id: str) -> VectorStore:
        """Connect to the configured Milvus and make sure the collection is there and ours."""
        store = cls(_connect(settings), settings, spec_from_settings(settings, embedder_id))
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
        """Connect without checking the embedder (for health and stats)."""
        return cls(_connect(settings), settings, spec_from_settings(settings, ""))

    def close(self) -> None:
        """Close the connection; the last store on a Lite file also releases the file."""
        if self._closed:
            return
        self._closed = True
        try:
            self._client.close()
        except MilvusException as exc:  # closing a dead channel is not worth failing for
            log.debug("closing milvus client: %s", exc)
        if self.backend == "lite":
            _release_lite(self._settings.milvus_uri)

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, fn: Any, *, retry: bool = True) -> Any:
        return call_with_retry(what, fn, timeout_s=self._settings.milvus_timeout_s, retry=retry)

    @property
    def name(self) -> str:
        return self.spec.name

    # --- collection lifecycle --------------------------------------------------------------
    def exists(self) -> bool:
        return bool(
            self._call(
                "has_collection", lambda t: self._client.has_collection(self.name, timeout=t)
            )
        )

    def ensure_collection(self) -> bool:
        """Create the collection if missing, else check it is compatible; load it. True if new."""
        if not self.spec.embedder_id:
            raise VectorStoreError("ensure_collection needs an embedder id")
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
            self.spec.embedder_id,
        )

    def describe(self) -> dict[str, Any]:
        return dict(
            self._call(
                "describe_collection",
                lambda t: self._client.describe_collection(self.name, timeout=t),
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
            self.spec = sch.CollectionSpec(**{**self.spec.__dict__, "nlist": nlist})
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
        """Seal what was written so the vector index covers it.

        On the server this seals growing segments. Milvus Lite keeps recent writes in a
        MemTable (up to 128 MB) that every search scans row by row in Python: measured here,
        50,000 freshly written vectors made a search take 450 ms before `flush` and 30 ms
        after (docs/benchmarks.md).
        """
        self._call("flush", lambda t: self._client.flush(self.name, timeout=t))

    def segments(self) -> list[SegmentInfo]:
        """The loaded segments and whether each has its vector index (empty on Lite)."""
        if self.backend == "lite":
            return []
        handler = self._client._get_connection()
        infos = self._call(
            "get_query_segment_info",
            lambda t: handler.get_query_segment_info(self.name, timeout=t),
        )
        return [
            SegmentInfo(
                segment_id=int(info.segmentID),
                partition_id=int(info.partitionID),
                rows=int(info.num_rows),
                state=_segment_state(int(info.state)),
                indexed=bool(info.indexID) or bool(info.index_name),
            )
            for info in infos
        ]

    # --- writes --------------------------------------------------------------------------
    def upsert(self, batch: ProductVectors) -> int:
        """Insert or replace a batch in one request. Returns the number of rows written."""
        return self.write(batch, new_ids=False).rows

    def insert_new(self, batch: ProductVectors) -> int:
        """Insert a batch whose ids the caller knows are not in the collection yet.

        Skips the delete half of the 2.3.5 upsert (measured: 4 writers reached 31,000
        vectors/s with inserts, 21,000 with delete + insert). An id that is already there
        ends up twice on the server, so this is for fresh loads only; use `upsert` otherwise.
        """
        return self.write(batch, new_ids=True).rows

    def write(self, batch: ProductVectors, *, new_ids: bool) -> WriteTiming:
        """`upsert` (or `insert_new` when `new_ids`), timing request building and the calls."""
        if len(batch) == 0:
            return WriteTiming(0, 0.0, 0.0)
        if batch.embeddings.shape[1] != self.spec.dim:
            raise VectorStoreError(
                f"batch vectors have {batch.embeddings.shape[1]} dims, collection {self.spec.dim}"
            )
        handler = self._client._get_connection()
        upsert = not new_ids and self._upsert_is_safe()
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
            if not new_ids:
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
        """Another store on the same collection over its own connection (a second writer)."""
        return VectorStore(_connect(self._settings), self._settings, self.spec)

    def _upsert_is_safe(self) -> bool:
        if self._server_version is None:
            self._server_version = str(
                self._call(
                    "get_server_version", lambda t: self._client.get_server_version(timeout=t)
                )
            )
        return self.backend == "lite" or not version_below(self._server_version, (2, 3, 10))

    def delete(self, product_ids: Sequence[int] | npt.NDArray[np.int64]) -> None:
        ids = [int(i) for i in product_ids]
        if not ids:
            return
        expression = f"{sch.PRIMARY_KEY} in {id_list(ids)}"
        self._call("delete", lambda t: self._client.delete(self.name, filter=expression, timeout=t))

    # --- reads ---------------------------------------------------------------------------
    def get(
        self, product_id: int, *, with_vector: bool = True, strong: bool = False
    ) -> StoredProduct | None:
        found = self.get_many([product_id], with_vector=with_vector, strong=strong)
        return found.get(int(product_id))

    def get_many(
        self, product_ids: Sequence[int], *, with_vector: bool = False, strong: bool = False
    ) -> dict[int, StoredProduct]:
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
        )
        return {int(r[sch.PRIMARY_KEY]): _stored(r, r[sch.PRIMARY_KEY], with_vector) for r in rows}

    def count(self, *, strong: bool = False) -> int:
        rows = self._call(
            "count",
            lambda t: self._client.query(
                self.name, filter="", output_fields=["count(*)"], timeout=t, **_consistency(strong)
            ),
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
    ) -> list[list[SearchHit]]:
        """Top-`limit` hits per query vector, best first, with score >= threshold."""
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        if queries.ndim != 2 or queries.shape[1] != self.spec.dim:
            raise InvalidInput(f"query vectors must have {self.spec.dim} dimensions")
        if not np.isfinite(queries).all():
            raise InvalidInput("query vector contains NaN or inf")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
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
        )
        results: list[list[SearchHit]] = []
        for hits in raw:
            row: list[SearchHit] = []
            for hit in hits:
                distance = float(hit["distance"])
                score = distance_to_score(distance)
                if threshold is not None and score < threshold:
                    continue
                row.append(SearchHit(_stored(hit["entity"], hit.id, False), distance, score))
            row.sort(key=lambda h: -h.score)
            results.append(row)
        return results

    def _search_params(self, nprobe: int | None) -> dict[str, Any]:
        if self.spec.index_type is IndexType.HNSW:
            return {"ef": nprobe or self._settings.hnsw_ef}
        return {"nprobe": nprobe or self._settings.nprobe}

    # --- health --------------------------------------------------------------------------
    def stats(self) -> StoreStats:
        version = str(
            self._call("get_server_version", lambda t: self._client.get_server_version(timeout=t))
        )
        if not self.exists():
            return StoreStats(
                self.backend, self.name, "no collection", 0, "", "", 0, 0, None, version
            )
        info = self.index_info()
        return StoreStats(
            backend=self.backend,
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


def _segment_state(value: int) -> str:
    try:
        return str(common_pb2.SegmentState.Name(value))
    except ValueError:
        return str(value)


def version_below(version: str, floor: tuple[int, int, int]) -> bool:
    """`v2.3.5-lite` < (2, 3, 10)? Unparseable versions count as new."""
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", version.strip())
    if not match:
        return False
    return tuple(int(part) for part in match.groups()) < floor


def spec_from_settings(settings: Settings, embedder_id: str) -> sch.CollectionSpec:
    return sch.CollectionSpec(
        name=settings.collection_name,
        embedder_id=embedder_id,
        index_type=settings.index_type,
        nlist=settings.nlist,
        hnsw_m=settings.hnsw_m,
        hnsw_ef_construction=settings.hnsw_ef_construction,
    )


#: Open stores per Milvus Lite file in this process; the last one to close releases the file
#: (Milvus Lite otherwise keeps it locked until the process exits).
_lite_users: Counter[str] = Counter()
_lite_lock = threading.Lock()


def _release_lite(path: str) -> None:
    with _lite_lock:
        _lite_users[path] -= 1
        if _lite_users[path] > 0:
            return
        del _lite_users[path]
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(path)


def _connect(settings: Settings) -> MilvusClient:
    uri = settings.milvus_uri
    if settings.milvus_is_lite:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        client = _connect_client(settings, uri)
        with _lite_lock:
            _lite_users[uri] += 1
        return client
    return _connect_client(settings, uri)


def _connect_client(settings: Settings, uri: str) -> MilvusClient:
    password = settings.milvus_password.get_secret_value() if settings.milvus_password else ""

    def connect(timeout: float) -> MilvusClient:
        return MilvusClient(
            uri=uri,
            user=settings.milvus_username or "",
            password=password,
            db_name=settings.milvus_db_name,
            timeout=timeout,
        )

    try:
        return call_with_retry("connect", connect, timeout_s=settings.milvus_timeout_s)
    except SokoError:
        if settings.milvus_is_lite and _lite_file_locked(uri):
            raise VectorStoreLocked(_locked_message(uri)) from None
        raise


def _lite_file_locked(path: str) -> bool:
    """Whether another process holds Milvus Lite's advisory lock on `path`."""
    lock_path = os.path.join(path, "LOCK")
    if not os.path.exists(lock_path):
        return False
    with open(lock_path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _locked_message(path: str) -> str:
    return (
        f"the Milvus Lite database {path} is open in another process; Milvus Lite allows one "
        "process per file. Stop that process (for example `soko serve`, which runs the ingest "
        "worker itself), or run a Milvus server and set MILVUS_ADDRESS=host:19530"
    )
