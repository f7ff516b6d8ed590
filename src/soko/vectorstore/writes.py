"""Write many batches into the collection, with several writers at once.

The ingest worker and `soko bench` both load vectors through `write_batches`. On the Milvus
2.3.5 server one writer leaves most of the server's time idle between requests; four writers,
each on its own gRPC connection, measured 31,000 vectors/s here against 17,000 for one
(docs/benchmarks.md). Milvus Lite runs inside this process, so extra writers there only add
contention: it always gets one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from soko.vectorstore.batch import ProductVectors
from soko.vectorstore.store import VectorStore, WriteTiming

log = logging.getLogger(__name__)

#: Writers used when the caller does not say (server backend).
DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True)
class WriteReport:
    """What `write_batches` wrote and where the time went (seconds summed over writers)."""

    rows: int
    batches: int
    seconds: float
    build_s: float
    rpc_s: float
    concurrency: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def write_batches(
    store: VectorStore,
    batches: Iterable[ProductVectors],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    new_ids: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> WriteReport:
    """Write every batch (upsert, or insert when `new_ids`), `concurrency` at a time.

    Batches are pulled from `batches` lazily, one per writer in flight, so a generator
    over a million rows never sits in memory whole. The first failed write stops
    the run and is raised once the writes already sent have finished. `on_batch(rows)` is
    called after each batch (for progress bars).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    writers = 1 if store.backend == "lite" else concurrency
    stores = [store] + [store.clone() for _ in range(writers - 1)]
    free = list(stores)
    timings: list[WriteTiming] = []
    started = time.perf_counter()
    pending: dict[Future[WriteTiming], VectorStore] = {}

    def collect(done: set[Future[WriteTiming]]) -> None:
        for future in done:
            free.append(pending.pop(future))
            timing = future.result()
            timings.append(timing)
            if on_batch is not None:
                on_batch(timing.rows)

    try:
        with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="soko-writer") as pool:
            try:
                for batch in batches:
                    if not free:
                        done, _ = wait(pending, return_when=FIRST_COMPLETED)
                        collect(done)
                    writer = free.pop()
                    pending[pool.submit(writer.write, batch, new_ids=new_ids)] = writer
                done, _ = wait(pending)
                collect(done)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    finally:
        for extra in stores[1:]:
            extra.close()
    elapsed = time.perf_counter() - started
    report = WriteReport(
        rows=sum(t.rows for t in timings),
        batches=len(timings),
        seconds=elapsed,
        build_s=sum(t.build_s for t in timings),
        rpc_s=sum(t.rpc_s for t in timings),
        concurrency=writers,
    )
    log.info(
        "wrote %d rows in %d batches with %d writers: %.0f rows/s",
        report.rows,
        report.batches,
        writers,
        report.rows_per_s,
    )
    return report
