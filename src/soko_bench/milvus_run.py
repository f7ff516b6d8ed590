"""One Milvus configuration end to end: load through the write path, settle, measure.

The server runs as its own process (`LocalMilvusServer`, a fresh data folder per index type,
so disk and memory are its alone). Milvus Lite runs inside the process that opens it, so
`run_milvus_in_child` runs the whole job in a fresh child process: its resident memory is
then Lite's plus a client's, not the benchmark's data set and FAISS index.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil

from soko.config import IndexType, Settings, load_settings
from soko.errors import VectorStoreError
from soko.vectorstore import LocalMilvusServer, VectorStore
from soko_bench.dataset import Dataset, DatasetSpec, build_dataset, product_batches
from soko_bench.loadgen import SearchFn, run_latency
from soko_bench.measure import MeasureOptions, Report, measure_points
from soko_bench.milvus_io import SegmentInfo, SegmentWatch, write_all
from soko_bench.results import Disk, Load, Memory, Run, Settle
from soko_bench.stats import percentile

log = logging.getLogger(__name__)

#: The benchmark's server collects compacted-away segment files after this many seconds, so
#: that disk use is measured for the data it holds, not for files awaiting deletion.
GC_AFTER_S = 20

EMBEDDER_ID = "bench-synthetic"
COLLECTION = "bench_vectors"


@dataclass(frozen=True)
class SettleOptions:
    timeout_s: float = 3600.0
    #: The loaded segments (ids and whether indexed) must stay the same this long: longer
    #: than dataCoord's 60 s compaction round, which merges small segments once indexed.
    stable_s: float = 90.0
    #: p99 of consecutive probe windows must agree within this ratio.
    p99_tolerance: float = 0.25
    probe_queries: int = 50
    max_probe_windows: int = 12


@dataclass(frozen=True)
class MilvusJob:
    backend: str
    index: IndexType
    spec: DatasetSpec
    dataset_folder: Path
    work_dir: Path
    nlist: int = 1024
    hnsw_m: int = 16
    hnsw_ef_construction: int = 200
    batch_size: int = 1000
    writers: int = 4
    keep_loaded: bool = True
    keep_data: bool = False
    measure: MeasureOptions = field(default_factory=MeasureOptions)
    settle: SettleOptions = field(default_factory=SettleOptions)

    @property
    def param_name(self) -> str:
        return "ef" if self.index is IndexType.HNSW else "nprobe"

    def build_params(self) -> dict[str, int | float | str]:
        if self.index is IndexType.HNSW:
            return {"M": self.hnsw_m, "efConstruction": self.hnsw_ef_construction}
        return {"nlist": self.nlist}


def _settings(job: MilvusJob, address: str) -> Settings:
    return load_settings(
        milvus_address=address,
        collection_name=COLLECTION,
        index_type=job.index,
        nlist=job.nlist,
        nprobe=min(16, job.nlist),
        hnsw_m=job.hnsw_m,
        hnsw_ef_construction=job.hnsw_ef_construction,
        ingest_batch_size=job.batch_size,
        milvus_timeout_ms=600_000,
    )


def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


#: Disk parts that are not the collection itself: the server's write-ahead log (rocksmq,
#: kept for its retention period), its metadata store, and Milvus Lite's WAL.
_TRANSIENT_PARTS = frozenset({"rocksmq", "rocksmq_meta_kv", "etcd.data", "wal"})


def _disk_breakdown(root: Path) -> dict[str, int]:
    """Bytes per top-level part (server data folder) or per kind of file (Lite folder)."""
    if not root.exists():
        return {}
    if (root / "milvus.db").exists():  # Lite: WAL files apart from segments and indexes
        parts: dict[str, int] = {}
        for path in (root / "milvus.db").rglob("*"):
            if path.is_file():
                part = "wal" if "wal" in path.relative_to(root).parts else "segments+index"
                parts[part] = parts.get(part, 0) + path.stat().st_size
        return parts
    return {p.name: _du(p) for p in sorted(root.iterdir())}


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _search_fn(store: VectorStore, k: int, param: list[int]) -> SearchFn:
    def search(query: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        hits = store.search(query, limit=k, nprobe=param[0])[0]
        return np.fromiter((h.product_id - 1 for h in hits), np.int64, len(hits))

    return search


def _wait_searchable(store: VectorStore, rows: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (count := store.count()) < rows:
        if time.monotonic() > deadline:
            raise VectorStoreError(f"only {count} of {rows} rows visible after {timeout_s:.0f}s")
        time.sleep(0.2)


def _wait_for_garbage_collection(root: Path, timeout_s: float = 300.0) -> None:
    """Until the kept data has not shrunk for two GC rounds (or `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    size = _du(root)
    steady_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - steady_since < 2.5 * GC_AFTER_S:
        time.sleep(5)
        now = _du(root)
        if now < size:
            size, steady_since = now, time.monotonic()


def _layout(segments: list[SegmentInfo]) -> list[tuple[int, bool]]:
    return sorted((s.segment_id, s.indexed) for s in segments)


def _wait_segments_stable(
    watch: SegmentWatch, store: VectorStore, options: SettleOptions, deadline: float
) -> list[tuple[int, bool]] | None:
    """The loaded segment layout once it has not changed for `options.stable_s` (server only)."""
    if store.backend != "server":
        return None
    layout: list[tuple[int, bool]] | None = None
    stable_since = time.monotonic()
    while True:
        current = _layout(watch.segments())
        now = time.monotonic()
        if current != layout:
            log.info(
                "segments changed: %d loaded, %d indexed", len(current), sum(i for _, i in current)
            )
            layout, stable_since = current, now
        elif now - stable_since >= options.stable_s:
            # Not "every segment indexed": Milvus builds no index for segments under
            # indexNode's minimum row count; wait_for_index already covers the rest.
            return layout
        if now > deadline:
            raise VectorStoreError(f"segments still changing after {options.timeout_s:.0f}s")
        time.sleep(0.5)


def settle(
    store: VectorStore,
    watch: SegmentWatch,
    search: SearchFn,
    queries: npt.NDArray[np.float32],
    options: SettleOptions,
    flush_s: float,
) -> Settle:
    """Wait until the index covers every row, the loaded segments have stopped changing
    (compaction and index hand-off done), and p99 of probe windows has stopped moving.

    No manual compaction (on 2.3.5, with 64 partitions, one took 155 s and merged nothing):
    the automatic one merges a partition's small segments within a minute or two of their
    index, which the stable-layout wait and the re-check after probing cover.
    """
    started = time.perf_counter()
    store.wait_for_index(options.timeout_s)
    index_done = time.perf_counter()
    deadline = time.monotonic() + options.timeout_s
    probe = queries[: options.probe_queries]
    while True:
        layout = _wait_segments_stable(watch, store, options, deadline)
        stable_done = time.perf_counter()
        probes: list[float] = []
        for _ in range(options.max_probe_windows):
            run = run_latency(search, probe, max_seconds=1e9, min_queries=len(probe))
            probes.append(percentile(run.latencies_s * 1000.0, 99))
            if len(probes) >= 2 and abs(probes[-1] - probes[-2]) <= options.p99_tolerance * min(
                probes[-1], probes[-2]
            ):
                break
        segments = watch.segments()
        # A compaction or hand-off that began while probing makes the probes meaningless
        # (p99 of two windows can agree at 400 ms mid-compaction): wait again.
        if layout is None or _layout(segments) == layout or time.monotonic() > deadline:
            break
        log.info("segments changed while probing; waiting for them again")
    done = time.perf_counter()
    return Settle(
        flush_s=flush_s,
        index_s=index_done - started,
        segments_stable_s=stable_done - index_done,
        quiet_s=done - stable_done,
        total_s=flush_s + done - started,
        segments=len(segments),
        probe_p99_ms=probes,
    )


def run_milvus(job: MilvusJob, report: Report | None = None) -> Run:
    """Load, settle and measure one backend and index type."""
    dataset = build_dataset(job.spec, job.dataset_folder)
    server: LocalMilvusServer | None = None
    data_path = job.work_dir / f"{job.backend}-{job.index.value.lower()}"
    shutil.rmtree(data_path, ignore_errors=True)
    try:
        if job.backend == "server":
            server = LocalMilvusServer(data_path, gc_after_s=GC_AFTER_S).start()
            address = server.address
            watched = psutil.Process(server.pid)
        else:
            data_path.mkdir(parents=True)
            address = str(data_path / "milvus.db")
            watched = psutil.Process(os.getpid())
        return _run_on(job, dataset, _settings(job, address), server, watched, data_path, report)
    finally:
        if server is not None:
            # 2.3.5 ignores SIGTERM once a collection is loaded; its data is thrown away.
            server.stop(grace_s=0.5 if not job.keep_data else 5.0)
        if not job.keep_data:
            shutil.rmtree(data_path, ignore_errors=True)


def _run_on(
    job: MilvusJob,
    dataset: Dataset,
    settings: Settings,
    server: LocalMilvusServer | None,
    watched: psutil.Process,
    data_path: Path,
    report: Report | None,
) -> Run:
    rows = job.spec.n
    label = f"{job.backend} {job.index.value}"
    notes: list[str] = []
    watch = SegmentWatch(settings, settings.collection_name)
    with VectorStore.connect(settings, EMBEDDER_ID) as store:
        released = store.backend == "server" and not job.keep_loaded
        if released:
            store.release()
        me = psutil.Process(os.getpid())
        cpu_server, cpu_client = _cpu_s(watched), _cpu_s(me)
        written = [0]

        def on_batch(n: int) -> None:
            written[0] += n
            if report is not None:
                report(f"{label}: writing", written[0], rows)

        started = time.perf_counter()
        write = write_all(
            store,
            product_batches(dataset, job.batch_size),
            concurrency=job.writers,
            on_batch=on_batch,
        )
        server_cpu = _cpu_s(watched) - cpu_server if server is not None else None
        client_cpu = _cpu_s(me) - cpu_client
        if report is not None:
            report(f"{label}: waiting until searchable", rows, rows)
        flush_started = time.perf_counter()
        if released:
            # A released collection is searchable only once flushed and loaded again.
            store.flush()
            flush_s = time.perf_counter() - flush_started
            store.load()
        _wait_searchable(store, rows, job.settle.timeout_s)
        searchable_s = time.perf_counter() - started
        if not released:
            flush_started = time.perf_counter()
            store.flush()
            flush_s = time.perf_counter() - flush_started
        load = Load(
            rows=write.rows,
            batch_size=job.batch_size,
            writers=write.concurrency,
            mode="upsert",
            collection_loaded_during_writes=not released,
            write_s=write.seconds,
            request_build_s=write.build_s,
            rpc_s=write.rpc_s,
            server_cpu_s=server_cpu,
            client_cpu_s=client_cpu,
            searchable_s=searchable_s,
            rows_per_s=rows / searchable_s,
        )
        param = [0]
        search = _search_fn(store, job.spec.k, param)
        param[0] = job.measure.params[0]
        queries, truth = dataset.queries(), dataset.truth()
        if report is not None:
            report(f"{label}: waiting for index build and compaction", 0, 1)
        settled = settle(store, watch, search, queries, job.settle, flush_s)

        def set_param(value: int) -> None:
            param[0] = value

        def progress(what: str, done: int, total: int) -> None:
            if report is not None:
                report(f"{label}: {what}", done, total)

        params = list(job.measure.params)
        if job.index is not IndexType.HNSW:
            params = [p for p in params if p <= job.nlist]
        before = sorted(seg.segment_id for seg in watch.segments())
        points = measure_points(
            job.param_name, set_param, search, queries, truth, job.measure, progress, params=params
        )
        rss = watched.memory_info().rss
        after = sorted(seg.segment_id for seg in watch.segments())
        if before != after:
            notes.append(
                f"segments changed during the measurements ({len(before)} -> {len(after)}): "
                "Milvus compacted or handed off segments; figures may include that"
            )
    watch.close()
    if server is not None:
        _wait_for_garbage_collection(server.data_dir / "data")
        notes.append(
            f"server started with dataCoord.gc after {GC_AFTER_S} s (Milvus default: 1-3 h), "
            "and disk measured once the files of compacted-away segments were gone"
        )
    breakdown = _disk_breakdown(server.data_dir / "data" if server is not None else data_path)
    total = sum(breakdown.values())
    kept = sum(size for part, size in breakdown.items() if part not in _TRANSIENT_PARTS)
    if server is not None:
        notes.append(
            "server disk: insert_log = collection data, index_files = vector index, rocksmq = "
            "write-ahead log kept for rocksmq.retentionTimeInMinutes (3 days by default), "
            "etcd.data = metadata (mostly fixed size)"
        )
    return Run(
        backend=job.backend,
        index=job.index.value,
        build_params=job.build_params(),
        threads="Milvus server process, its own thread pools"
        if server is not None
        else "Milvus Lite in the measuring process",
        build_s=settled.index_s,
        load=load,
        settle=settled,
        disk=Disk(
            bytes=total,
            bytes_per_million_vectors=total * 1e6 / rows,
            data_bytes_per_million_vectors=kept * 1e6 / rows,
            breakdown=breakdown,
        ),
        memory=Memory(
            rss_bytes=rss,
            of="milvus server process" if server is not None else "process running Milvus Lite",
        ),
        points=points,
        notes=notes,
    )


def _child(job: MilvusJob, queue: Any) -> Run:
    def report(what: str, done: int, total: int) -> None:
        queue.put((what, done, total))

    return run_milvus(job, report)


def run_milvus_in_child(job: MilvusJob, report: Report | None = None) -> Run:
    """`run_milvus` in a fresh spawned process, relaying its progress to `report`."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(1, mp_context=context) as pool:
        queue = manager.Queue()
        future = pool.submit(_child, job, queue)
        stop = threading.Event()

        def relay() -> None:
            while not stop.is_set():
                try:
                    what, done, total = queue.get(timeout=0.2)
                except Empty:
                    continue
                if report is not None:
                    report(what, done, total)

        relay_thread = threading.Thread(target=relay, name="bench-child-progress", daemon=True)
        relay_thread.start()
        try:
            return future.result()
        finally:
            stop.set()
            relay_thread.join()
