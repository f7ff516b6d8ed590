"""The ingest worker: pending catalog rows -> Milvus, in batches, marked by compare-and-set.

Per batch: claim up to `batch_size` pending rows (`soko.catalog.ingest_queue`), hand them to
the vector store's one writer (`BatchWriter`: upserts, then deletes), and once they are
written mark exactly those rows, each only if it did not change meanwhile. A crash anywhere
leaves the rows pending (the mark comes last), and since upserts and deletes by primary key
are idempotent the next run converges. docs/ingest.md has the reasoning and the figures.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from soko.catalog import Catalog, Claim, IngestQueue, SpaceRecord
from soko.config import Settings
from soko.errors import ConfigError, SokoError
from soko.vectorstore import BatchWriter, VectorStore, WriteBatch

log = logging.getLogger(__name__)

#: Where SOKO_TEST_CRASH_AT can kill the worker: after the claim (nothing written yet),
#: after the upsert (deletes not yet sent), after all Milvus writes (nothing marked yet),
#: after the mark (on PostgreSQL: before the claim's transaction commits), after the commit.
CRASH_POINTS = ("after_claim", "after_upsert", "after_write", "after_mark", "after_commit")

#: The collection for a vector-space id, opened and closed by the caller (the application).
StoreOpener = Callable[[str], VectorStore]


@dataclass
class BatchResult:
    claimed: int = 0
    upserted: int = 0
    deleted: int = 0
    marked: int = 0
    #: Written, but changed in the catalog meanwhile: left pending for a later batch.
    changed_meanwhile: int = 0
    bad_vectors: list[int] = field(default_factory=list)


@dataclass
class IngestStats:
    batches: int = 0
    claimed: int = 0
    upserted: int = 0
    deleted: int = 0
    marked: int = 0
    changed_meanwhile: int = 0
    bad_vectors: set[int] = field(default_factory=set)
    #: Seconds per phase: claim (catalog read), build (request columns), write (Milvus
    #: calls, summed over writers), mark (catalog compare-and-set + commit).
    seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("claim", "build", "write", "mark"), 0.0)
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


class IngestWorker:
    """Drains the catalog's pending rows into the collection of the catalog's vector space.

    `in_flight` batches are written at once by the store's writers while this thread claims
    the next one (0: claim, write and mark one batch at a time, in this thread). Batches in
    flight hold disjoint ids, and each is marked only after its own write.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        open_store: StoreOpener,
        *,
        batch_size: int | None = None,
        in_flight: int | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.queue = IngestQueue(catalog)
        self.space = SpaceRecord(catalog)
        self.batch_size = batch_size or settings.ingest_batch_size
        self.in_flight = in_flight
        self.stats = IngestStats()
        self._open_store = open_store
        self._store: VectorStore | None = None
        self._crash = parse_crash_point(settings.test_crash_at)
        self._batch_number = 0
        self._lock = threading.Lock()

    def _vector_store(self) -> VectorStore | None:
        """The collection for the catalog's vector space; None while no vectors exist."""
        if self._store is None:
            space_id = self.space.get()
            if space_id is None:
                return None
            self._store = self._open_store(space_id)
        return self._store

    def _checkpoint(self, point: str, batch_number: int) -> None:
        if self._crash and self._crash == (point, batch_number):
            log.warning("SOKO_TEST_CRASH_AT=%s: killing the worker", point)
            os.kill(os.getpid(), signal.SIGKILL)

    def _time(self, phase: str, seconds: float) -> None:
        with self._lock:
            self.stats.seconds[phase] += seconds

    # --- one sweep -----------------------------------------------------------------------
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
        writer: BatchWriter | None = None
        marked_in_sweep = 0

        def marker(claim: Claim, number: int) -> Callable[[WriteBatch], None]:
            def mark(_: WriteBatch) -> None:
                nonlocal marked_in_sweep
                result = self._mark(claim, number)
                with self._lock:
                    self.stats.add(result)
                    marked_in_sweep += result.marked
                if on_batch:
                    on_batch(result)

            return mark

        try:
            after = 0
            while not (stop and stop.is_set()):
                claim = self._claim(after)
                if claim is None:
                    if writer is not None:
                        writer.drain()
                    if after == 0 or marked_in_sweep == 0:
                        break
                    after, marked_in_sweep = 0, 0
                    continue
                after = claim.rows.last_id
                if writer is None and len(claim.rows.upserts) + len(claim.rows.delete_ids):
                    writer = self._writer(claim)
                self._submit(writer, claim, marker(claim, self._batch_number))
            if writer is not None:
                writer.drain()
        finally:
            if writer is not None:
                # Batches in flight finish (and are marked) before this returns or raises.
                writer.close()
                self._time("build", writer.report.build_s)
                self._time("write", writer.report.rpc_s)
        if self._store is not None:
            self._store.writes_done(self.stats.upserted + self.stats.deleted - written_before)
        return self.stats

    def _writer(self, claim: Claim) -> BatchWriter | None:
        """The writer for the first claim with something to write (None: no vector space)."""
        try:
            store = self._vector_store()
            if store is None and len(claim.rows.upserts):
                raise SokoError("the catalog has vectors but records no vector space")
            if store is None:
                return None
            writer = BatchWriter(store, concurrency=self.in_flight)
            self.in_flight = writer.concurrency
            return writer
        except BaseException:
            claim.close(commit=False)
            raise

    def _claim(self, after_id: int) -> Claim | None:
        began = time.perf_counter()
        claim = self.queue.claim(self.batch_size, after_id)
        if len(claim.rows) == 0:
            claim.close(commit=False)
            return None
        self._batch_number += 1
        self._time("claim", time.perf_counter() - began)
        self._checkpoint("after_claim", self._batch_number)
        return claim

    def _submit(
        self, writer: BatchWriter | None, claim: Claim, on_written: Callable[[WriteBatch], None]
    ) -> None:
        """Hand a claim to the writer; with nothing to write, mark it here and now."""
        rows = claim.rows
        number = self._batch_number
        if rows.bad_ids:
            log.error(
                "products %s have unusable stored vectors; left pending (re-hydrate them)",
                rows.bad_ids[:20],
            )
        batch = WriteBatch(rows.upserts, rows.delete_ids)
        try:
            if writer is None or batch.rows == 0:
                # No vector space yet (so nothing in Milvus to delete), or only unusable rows.
                on_written(WriteBatch())
                return
            writer.submit(
                batch, on_written, after_upsert=lambda: self._checkpoint("after_upsert", number)
            )
        except BaseException:
            claim.close(commit=False)
            raise

    def _mark(self, claim: Claim, number: int) -> BatchResult:
        """After the write: mark the rows written (compare-and-set) and commit the claim."""
        rows = claim.rows
        result = BatchResult(
            claimed=len(rows),
            upserted=len(rows.upserts),
            deleted=len(rows.delete_ids),
            bad_vectors=list(rows.bad_ids),
        )
        try:
            self._checkpoint("after_write", number)
            began = time.perf_counter()
            result.marked = claim.mark_written(rows.upserts.product_ids, rows.upsert_versions)
            result.marked += claim.mark_written(rows.delete_ids, rows.delete_versions)
            result.changed_meanwhile = result.upserted + result.deleted - result.marked
            self._checkpoint("after_mark", number)
        except BaseException:
            claim.close(commit=False)
            raise
        claim.close(commit=True)
        self._checkpoint("after_commit", number)
        self._time("mark", time.perf_counter() - began)
        log.info(
            "ingest batch %d: %d upserted, %d deleted, %d marked, %d changed meanwhile",
            number,
            result.upserted,
            result.deleted,
            result.marked,
            result.changed_meanwhile,
        )
        return result
