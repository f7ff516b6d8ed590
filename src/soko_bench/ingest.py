"""`soko-bench ingest`: rows/s from catalog to searchable in Milvus, Lite or server.

The catalog is filled with products carrying precomputed unit vectors (as hydrate leaves
them); that part is not timed. Timed: the ingest worker draining every pending row, until
a strong-consistency count in Milvus equals n (growing segments are searchable, by brute
force, before any index covers them). Flushing and building the index are timed after
that and reported apart, as `seconds_to_indexed`.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from soko.app import Soko
from soko.catalog import Catalog, HydrateQueue, ProductCreate, VectorUpdate
from soko.config import Settings, load_settings
from soko.embedding import DIM, VectorSpace

log = logging.getLogger(__name__)

BENCH_SPACE = VectorSpace("bench-precomputed", 0.6, 0.4)
CATEGORIES = tuple(f"category-{i:02d}" for i in range(24))
FILL_CHUNK = 5000


@dataclass
class IngestBenchResult:
    backend: str
    n: int
    batch_size: int
    in_flight: int
    rows_per_s: float
    seconds_to_searchable: float
    seconds_ingest: float
    seconds_visible: float
    seconds_to_indexed: float
    phases: dict[str, float]
    server_version: str
    catalog: str
    cpu_count: int
    python: str = platform.python_version()
    machine: str = platform.machine()
    measured_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )


def fill_catalog(catalog: Catalog, n: int, *, seed: int = 0) -> None:
    """n products with random unit vectors, stored as hydrate stores them."""
    rng = np.random.default_rng(seed)
    queue = HydrateQueue(catalog)
    for start in range(0, n, FILL_CHUNK):
        stop = min(start + FILL_CHUNK, n)
        vectors = rng.standard_normal((stop - start, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = range(start + 1, stop + 1)
        catalog.import_products(
            [
                ProductCreate(
                    product_id=pid,
                    name=f"Bench product {pid}",
                    category=CATEGORIES[pid % len(CATEGORIES)],
                    price=float(pid % 1000),
                    seller_id=pid % 500,
                    image_url=f"https://img.example/{pid}.jpg",
                )
                for pid in ids
            ]
        )
        # Freshly imported rows are at version 1: the compare-and-set write expects that.
        queue.store(
            [
                VectorUpdate(product_id=pid, version=1, hybrid=vectors[k])
                for k, pid in enumerate(ids)
            ],
            BENCH_SPACE,
        )


def run_ingest_bench(
    settings: Settings,
    n: int,
    *,
    batch_size: int,
    in_flight: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> IngestBenchResult:
    """Fill a fresh catalog, ingest it into a fresh collection, and time it."""
    with Soko.open(settings) as soko:
        fill_catalog(soko.catalog, n)
        store = soko.store_for(BENCH_SPACE.id)
        try:
            worker = soko.ingest_worker(batch_size=batch_size, in_flight=in_flight)
            began = time.perf_counter()
            stats = worker.run(on_batch=lambda b: on_progress(b.claimed) if on_progress else None)
            ingested = time.perf_counter()
            visible = store.count(strong=True)
            searchable = time.perf_counter()
            if stats.marked != n or visible != n:
                raise RuntimeError(f"ingested {stats.marked} and Milvus counts {visible} of {n}")
            store.flush()
            store.wait_for_index(3600)
            indexed = time.perf_counter()
            version = store.stats().server_version
        finally:
            store.drop()
        dialect = "postgresql" if soko.catalog.is_postgresql else "sqlite"
    total = searchable - began
    return IngestBenchResult(
        backend=store.backend,
        n=n,
        batch_size=batch_size,
        in_flight=worker.in_flight or 0,
        rows_per_s=round(n / total, 1),
        seconds_to_searchable=round(total, 3),
        seconds_ingest=round(ingested - began, 3),
        seconds_visible=round(searchable - ingested, 3),
        seconds_to_indexed=round(indexed - began, 3),
        phases={k: round(v, 3) for k, v in stats.seconds.items()},
        server_version=version,
        catalog=dialect,
        cpu_count=os.cpu_count() or 0,
    )


def bench_settings(
    base: Settings, milvus_address: str, workdir: Path, database_url: str | None
) -> Settings:
    return load_settings(
        **{
            **base.model_dump(exclude={"test_crash_at"}),
            "milvus_address": milvus_address,
            "collection_name": f"bench_ingest_{os.getpid()}",
            "database_url": database_url or f"sqlite:///{workdir / 'catalog.db'}",
        }
    )


def write_result(result: IngestBenchResult, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"ingest-{result.backend}-{result.catalog}.json"
    path.write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    return path


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="soko-bench-ingest-"))
