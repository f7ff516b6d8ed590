"""`BatchWriter`: the one way batches reach Milvus, with several writers at once.

The ingest worker (catalog rows) and the benchmarks (generated vectors) both submit batches
here. Each writer has its own gRPC connection: one connection leaves the 2.3.5 server idle
between requests (docs/benchmarks.md). Milvus Lite runs inside this process, so it gets one
writer. With `concurrency=0` a batch is written in the calling thread before `submit`
returns; otherwise `submit` returns once a writer has taken it, and blocks while every
writer is busy. `on_written` is called in the writer's thread once the batch's upserts and
deletes are done (the ingest worker marks the rows there).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from soko.errors import ConfigError
from soko.products import ProductBatch
from soko.vectorstore.store import VectorStore, WriteTiming

log = logging.getLogger(__name__)

Hook = Callable[[], None]


@dataclass(frozen=True)
class WriteBatch:
    """What one write carries: products to upsert and product ids to delete."""

    upserts: ProductBatch | None = None
    delete_ids: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def rows(self) -> int:
        return (len(self.upserts) if self.upserts is not None else 0) + len(self.delete_ids)


@dataclass
class WriteReport:
    """What a writer wrote and where the time went (seconds summed over writers)."""

    rows: int = 0
    batches: int = 0
    seconds: float = 0.0
    build_s: float = 0.0
    rpc_s: float = 0.0
    concurrency: int = 0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


class BatchWriter:
    """Writes batches into one collection, `concurrency` at a time (0: in this thread)."""

    def __init__(self, store: VectorStore, *, concurrency: int | None = None) -> None:
        wanted = store.default_writers if concurrency is None else concurrency
        if wanted < 0:
            raise ConfigError("writers must not be negative")
        if wanted > store.max_writers:
            raise ConfigError(
                f"Milvus {store.backend} takes at most {store.max_writers} writer(s) at once "
                f"(asked for {wanted})"
            )
        self.concurrency = wanted
        self.report = WriteReport(concurrency=wanted)
        self._store = store
        self._free: list[VectorStore] = []
        self._extra: list[VectorStore] = []
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[Future[None], VectorStore] = {}
        self._lock = threading.Lock()
        self._started = time.perf_counter()
        if wanted > 0:
            self._extra = [store.clone() for _ in range(wanted - 1)]
            self._free = [store, *self._extra]
            self._pool = ThreadPoolExecutor(wanted, thread_name_prefix="soko-writer")

    def submit(
        self,
        batch: WriteBatch,
        on_written: Callable[[WriteBatch], None] | None = None,
        *,
        after_upsert: Hook | None = None,
    ) -> None:
        """Write `batch` (upserts, then deletes), then call `on_written(batch)`.

        Raises the failure of an earlier batch, if one failed, instead of taking this one.
        `after_upsert` runs between the upserts and the deletes (a crash-test hook).
        """
        if self._pool is None:
            self._write(self._store, batch, on_written, after_upsert)
            return
        if not self._free:
            self._collect(wait(self._pending, return_when=FIRST_COMPLETED).done)
        writer = self._free.pop()
        future = self._pool.submit(self._write, writer, batch, on_written, after_upsert)
        self._pending[future] = writer

    def drain(self) -> None:
        """Wait for every batch submitted; raise the first failure."""
        if self._pending:
            self._collect(wait(self._pending).done)

    def close(self) -> None:
        """Let batches in flight finish (failures are the caller's to drain), then hang up."""
        try:
            for future in list(self._pending):
                future.exception()
            if self._pool is not None:
                self._pool.shutdown(wait=True)
        finally:
            for extra in self._extra:
                extra.close()
            self._extra = []
        self.report.seconds = time.perf_counter() - self._started
        if self.report.batches:
            log.info(
                "wrote %d rows in %d batches with %d writer(s): %.0f rows/s",
                self.report.rows,
                self.report.batches,
                self.concurrency,
                self.report.rows_per_s,
            )

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            if exc_type is None:
                self.drain()
        finally:
            self.close()

    def _collect(self, done: set[Future[None]]) -> None:
        failure: BaseException | None = None
        for future in done:
            self._free.append(self._pending.pop(future))
            failure = failure or future.exception()
        if failure is not None:
            raise failure

    def _write(
        self,
        store: VectorStore,
        batch: WriteBatch,
        on_written: Callable[[WriteBatch], None] | None,
        after_upsert: Hook | None,
    ) -> None:
        timing = WriteTiming(0, 0.0, 0.0)
        if batch.upserts is not None and len(batch.upserts):
            timing = store.write(batch.upserts)
        if after_upsert is not None:
            after_upsert()
        began = time.perf_counter()
        store.delete(batch.delete_ids)
        deleted = time.perf_counter() - began
        if on_written is not None:
            on_written(batch)
        with self._lock:
            self.report.rows += batch.rows
            self.report.batches += 1
            self.report.build_s += timing.build_s
            self.report.rpc_s += timing.rpc_s + deleted
