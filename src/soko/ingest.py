"""The ingest worker: pending catalog rows -> Milvus, in batches, marked by compare-and-set.

Per batch: claim up to `batch_size` pending rows (see `soko.catalog.queue`), upsert the rows
that have vectors in one request, delete the deleted ones, then mark exactly the rows
written, each only if it did not change meanwhile. A crash anywhere leaves the rows pending
(the mark comes last), and since upserts and deletes by primary key are idempotent the next
run converges. docs/ingest.md has the reasoning and the measured throughput.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from soko.catalog import Catalog, Claim, IngestQueue, PendingRows
from soko.config import Settings
from soko.errors import ConfigError, SokoError
from soko.vectorstore import ProductVectors, VectorStore

log = logging.getLogger(__name__)

#: Where SOKO_TEST_CRASH_AT can kill the worker: after the claim (nothing written yet),
#: after the upsert (deletes not yet sent), after all Milvus writes (nothing marked yet),
#: after the mark (on PostgreSQL: before the claim's transaction commits), after the commit.
CRASH_POINTS = ("after_claim", "after_upsert", "after_write", "after_mark", "after_commit")
#: On a server, a run that wrote at least this many rows is flushed at its end.
SERVER_FLUSH_ROWS = 50_000
#: Pause before retrying when Milvus or the catalog is unreachable in --follow mode.
RETRY_PAUSE_S = 5.0


@dataclass
class BatchResult:
    claimed: int = 0
    upserted: int = 0
    deleted: int = 0
    marked: int = 0
    #: Written, but changed in the catalog meanwhile: left pending for a later batch.
    changed_meanwhile: int = 0
    bad_vectors: list[int] = field(default_factory=list)
    last_id: int = 0


@dataclass
class IngestStats:
    batches: int = 0
    claimed: int = 0
    upserted: int = 0
    deleted: int = 0
    marked: int = 0
    changed_meanwhile: int = 0
    bad_vectors: set[int] = field(default_factory=set)
    #: Seconds spent per phase: claim (catalog read), build (numpy + request columns),
    #: upsert and delete (Milvus), mark (catalog compare-and-set + commit).
    seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("claim", "build", "upsert", "delete", "mark"), 0.0)
    )

    def add(self, batch: BatchResult) -> None:
        self.batches += 1
        self.claimed += batch.claimed
        self.upserted += batch.upserted
        self.deleted += batch.deleted
        self.marked += batch.marked
        self.changed_meanwhile += batch.changed_meanwhile
        self.bad_vectors.update(batch.bad_vectors)


def parse_crash_point(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    point, _, nth = value.partition(":")
    if point not in CRASH_POINTS or (nth and not nth.isdigit()):
        raise ConfigError(
            f"SOKO_TEST_CRASH_AT: expected one of {', '.join(CRASH_POINTS)} with an optional "
            f":batch number (got {value!r})"
        )
    return point, int(nth or 1)


def to_product_vectors(rows: PendingRows, dim: int) -> ProductVectors:
    return ProductVectors.build(
        product_ids=rows.upsert_ids,
        embeddings=rows.vectors,
        product_names=rows.names,
        categories=rows.categories,
        prices=rows.prices,
        seller_ids=rows.seller_ids,
        image_urls=rows.image_urls,
        created_at=rows.created_at,
        last_hydrated_at=rows.last_hydrated_at,
        dim=dim,
    )


class IngestWorker:
    """Drains the catalog's pending rows into one Milvus collection.

    `in_flight` batches are written at once by writer threads while the calling thread
    claims the next one (0: claim, write and mark one batch at a time, in this thread).
    Batches in flight hold disjoint ids, and each is marked only after its own write.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        *,
        batch_size: int | None = None,
        store: VectorStore | None = None,
        in_flight: int | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.queue = IngestQueue(catalog)
        self.batch_size = batch_size or settings.ingest_batch_size
        # Milvus Lite's client is not shared between threads: one writer at a time there.
        self.in_flight = (
            in_flight if in_flight is not None else (1 if settings.milvus_is_lite else 2)
        )
        if self.in_flight > 1 and settings.milvus_is_lite:
            raise ConfigError("Milvus Lite takes one write at a time: use --in-flight 0 or 1")
        self.stats = IngestStats()
        self._store = store
        self._owns_store = store is None
        self._crash = parse_crash_point(settings.test_crash_at)
        self._batch_number = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> IngestWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _vector_store(self) -> VectorStore | None:
        """The collection for the catalog's vector space; None while no vectors exist."""
        with self._lock:
            if self._store is None:
                space = self.catalog.vector_space()
                if space is None:
                    return None
                self._store = VectorStore.connect(self.settings, space)
            return self._store

    def _checkpoint(self, point: str, batch_number: int) -> None:
        if self._crash and self._crash == (point, batch_number):
            log.warning("SOKO_TEST_CRASH_AT=%s: killing the worker", point)
            os.kill(os.getpid(), signal.SIGKILL)

    def _time(self, phase: str, seconds: float) -> None:
        with self._lock:
            self.stats.seconds[phase] += seconds

    # --- one batch -----------------------------------------------------------------------
    def _claim(self, after_id: int) -> tuple[Claim, int] | None:
        began = time.perf_counter()
        claim = self.queue.claim(self.batch_size, after_id)
        if len(claim.rows) == 0:
            claim.close(commit=False)
            return None
        with self._lock:
            self._batch_number += 1
            number = self._batch_number
        self._time("claim", time.perf_counter() - began)
        self._checkpoint("after_claim", number)
        return claim, number

    def _write(self, claim: Claim, number: int) -> BatchResult:
        """Write one claimed batch to Milvus, then mark it; closes the claim either way."""
        try:
            result = self._write_and_mark(claim, number)
        except BaseException:
            claim.close(commit=False)
            raise
        began = time.perf_counter()
        claim.close(commit=True)
        self._checkpoint("after_commit", number)
        self._time("mark", time.perf_counter() - began)
        with self._lock:
            self.stats.add(result)
        log.info(
            "ingest batch %d: %d upserted, %d deleted, %d marked, %d changed meanwhile",
            number,
            result.upserted,
            result.deleted,
            result.marked,
            result.changed_meanwhile,
        )
        return result

    def _write_and_mark(self, claim: Claim, number: int) -> BatchResult:
        rows = claim.rows
        result = BatchResult(claimed=len(rows), last_id=rows.last_id)
        if rows.bad_ids:
            log.error(
                "products %s have unusable stored vectors; left pending (re-hydrate them)",
                rows.bad_ids[:20],
            )
            result.bad_vectors = list(rows.bad_ids)
        store = self._vector_store() if len(rows.upsert_ids) or len(rows.delete_ids) else None
        if len(rows.upsert_ids):
            if store is None:
                raise SokoError("the catalog has vectors but records no vector space")
            began = time.perf_counter()
            batch = to_product_vectors(rows, store.spec.dim)
            self._time("build", time.perf_counter() - began)
            began = time.perf_counter()
            store.upsert(batch)
            self._time("upsert", time.perf_counter() - began)
            result.upserted = len(batch)
            self._checkpoint("after_upsert", number)
        if len(rows.delete_ids) and store is not None:
            began = time.perf_counter()
            store.delete(rows.delete_ids)
            self._time("delete", time.perf_counter() - began)
        result.deleted = len(rows.delete_ids)
        self._checkpoint("after_write", number)
        began = time.perf_counter()
        result.marked = claim.mark_written(rows.upsert_ids, rows.upsert_versions)
        result.marked += claim.mark_written(rows.delete_ids, rows.delete_versions)
        result.changed_meanwhile = result.upserted + result.deleted - result.marked
        self._time("mark", time.perf_counter() - began)
        self._checkpoint("after_mark", number)
        return result

    def ingest_batch(self, after_id: int = 0) -> BatchResult:
        """Claim, write and mark one batch of pending rows with id > after_id."""
        claimed = self._claim(after_id)
        if claimed is None:
            return BatchResult()
        return self._write(*claimed)

    # --- loops ---------------------------------------------------------------------------
    def run(
        self,
        *,
        on_batch: Callable[[BatchResult], None] | None = None,
        stop: threading.Event | None = None,
    ) -> IngestStats:
        """Write until nothing is pending (or a sweep over all ids makes no progress).

        Rows are claimed in id order; a sweep ends when no pending id is above the last one.
        Rows that changed during a sweep are picked up by the next one. A run that wrote
        enough is flushed, so that searches use the index rather than scanning new rows.
        """
        written_before = self.stats.upserted + self.stats.deleted
        if self.in_flight == 0:
            stats = self._run_serially(on_batch, stop)
        else:
            stats = self._run_pipelined(on_batch, stop)
        self._flush_after(self.stats.upserted + self.stats.deleted - written_before)
        return stats

    def _flush_after(self, written: int) -> None:
        store = self._store
        if store is None or written == 0:
            return
        # Lite scans unflushed rows one by one on every search (450 ms per search after 50k
        # writes, 30 ms once flushed); the server seals big segments itself, and flushing it
        # after every small run would only leave many small segments for compaction.
        if store.backend == "lite" or written >= SERVER_FLUSH_ROWS:
            store.flush()

    def _run_pipelined(
        self,
        on_batch: Callable[[BatchResult], None] | None,
        stop: threading.Event | None,
    ) -> IngestStats:
        marked_in_sweep = 0

        def collect(future: Future[BatchResult]) -> None:
            nonlocal marked_in_sweep
            result = future.result()
            marked_in_sweep += result.marked
            if on_batch:
                on_batch(result)

        pending: deque[Future[BatchResult]] = deque()
        with ThreadPoolExecutor(self.in_flight, thread_name_prefix="soko-ingest") as pool:
            try:
                after = 0
                while not (stop and stop.is_set()):
                    claimed = self._claim(after)
                    if claimed is None:
                        while pending:
                            collect(pending.popleft())
                        if after == 0 or marked_in_sweep == 0:
                            break
                        after, marked_in_sweep = 0, 0
                        continue
                    after = claimed[0].rows.last_id
                    try:
                        while len(pending) >= self.in_flight:
                            collect(pending.popleft())
                    except BaseException:
                        claimed[0].close(commit=False)
                        raise
                    pending.append(pool.submit(self._write, *claimed))
            finally:
                # Let every batch in flight finish (and mark) before returning or raising.
                for future in pending:
                    future.exception()
        for future in pending:
            collect(future)
        return self.stats

    def _run_serially(
        self,
        on_batch: Callable[[BatchResult], None] | None,
        stop: threading.Event | None,
    ) -> IngestStats:
        after = 0
        marked_in_sweep = 0
        while not (stop and stop.is_set()):
            result = self.ingest_batch(after)
            if result.claimed:
                after = result.last_id
                marked_in_sweep += result.marked
                if on_batch:
                    on_batch(result)
                continue
            if after == 0 or marked_in_sweep == 0:
                break
            after, marked_in_sweep = 0, 0
        return self.stats

    def follow(
        self,
        stop: threading.Event,
        *,
        on_batch: Callable[[BatchResult], None] | None = None,
    ) -> IngestStats:
        """Keep draining until `stop` is set; retriable failures are logged and retried."""
        while not stop.is_set():
            try:
                self.run(on_batch=on_batch, stop=stop)
            except SokoError as exc:
                if not exc.retriable:
                    raise
                log.error("ingest failed, retrying in %.0fs: %s", RETRY_PAUSE_S, exc)
                self.close()
                stop.wait(RETRY_PAUSE_S)
                continue
            stop.wait(self.settings.ingest_poll_s)
        return self.stats
