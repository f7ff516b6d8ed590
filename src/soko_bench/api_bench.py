"""`soko-bench api`: `/api/products/similar` end to end over HTTP, beside the raw search.

The set-up is production's: a Milvus server holding the collection the API expects (in
effnet-minilm's vector space: random unit vectors stand in for products, which the similar
route never re-embeds), a SQLite catalog holding the same products and their
hybrid vectors, and `soko serve --no-worker` as its own process. The raw figure is the very
search the route makes (the product's vector, limit 10, threshold 0.5, the product excluded),
timed through `VectorStore` from this process; the difference is what HTTP, FastAPI, the
catalog read and JSON cost.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from pydantic import BaseModel

from soko.app import SIMILAR_DEFAULT_THRESHOLD
from soko.catalog import Catalog, HydrateQueue, ProductCreate, VectorUpdate
from soko.config import load_settings
from soko.embedding import VectorSpace, load_embedder
from soko.vectorstore import LocalMilvusServer, SearchFilters, VectorStore, free_port
from soko_bench.dataset import Dataset, DatasetSpec, build_dataset, category_name, product_batches
from soko_bench.http_similar import HttpSimilarRun, measure_similar_http
from soko_bench.milvus_io import SegmentWatch, write_all
from soko_bench.milvus_run import SettleOptions, settle
from soko_bench.results import Machine, describe_machine
from soko_bench.stats import Latency

log = logging.getLogger(__name__)

SCHEMA = "soko.bench.api/1"
CATALOG_CHUNK = 10_000
API_START_TIMEOUT_S = 600.0

Report = Callable[[str, int, int], None]


class ApiBenchResults(BaseModel):
    schema_id: str = SCHEMA
    n: int
    sampled_products: int
    nprobe: int
    threshold: float
    machine: Machine
    load_s: float
    catalog_s: float
    raw_search: Latency
    http: HttpSimilarRun
    api_over_raw_p50: float
    api_over_raw_p99: float
    wall_s: float


@dataclass(frozen=True)
class ApiBenchOptions:
    spec: DatasetSpec
    work_dir: Path
    sample: int = 2000
    clients: tuple[int, ...] = (1, 4, 16)
    duration_s: float = 10.0
    writers: int = 4
    nprobe: int = 16


def fill_catalog(catalog: Catalog, dataset: Dataset, space: VectorSpace, report: Report) -> None:
    categories = dataset.categories()
    n = dataset.spec.n
    for first, vectors in dataset.chunks(CATALOG_CHUNK):
        ids = range(first + 1, first + vectors.shape[0] + 1)
        catalog.import_products(
            [
                ProductCreate(
                    product_id=pid,
                    name=f"product {pid}",
                    category=category_name(int(categories[pid - 1])),
                    price=float((pid * 7919) % 100_000) / 100.0,
                    seller_id=pid % 5000,
                    image_url=f"https://img.soko.example/p/{pid}.jpg",
                )
                for pid in ids
            ]
        )
        # Freshly imported rows are at version 1: the compare-and-set write expects that.
        HydrateQueue(catalog).store(
            [
                VectorUpdate(product_id=pid, version=1, hybrid=vectors[i])
                for i, pid in enumerate(ids)
            ],
            space,
        )
        report("catalog", first + vectors.shape[0], n)


def start_api(
    env: dict[str, str],
    log_path: Path,
    base_url: str,
    *,
    worker: bool = False,
    healthy: bool = True,
) -> subprocess.Popen[bytes]:
    """`soko serve` (`--no-worker` unless `worker`) as its own process, returned once its
    `/health` answers 200 (any answer if not `healthy`: a sync loop still ingesting)."""
    command = [sys.executable, "-m", "soko", "serve", *([] if worker else ["--no-worker"])]
    with open(log_path, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + API_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"soko serve exited; see {log_path}")
        try:
            status = httpx.get(f"{base_url}/health", timeout=5).status_code
            if status == 200 or not healthy:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"soko serve not healthy after {API_START_TIMEOUT_S:.0f}s; see {log_path}")


def stop_api(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_api_bench(options: ApiBenchOptions, report: Report) -> ApiBenchResults:
    started = time.perf_counter()
    spec = options.spec
    dataset = build_dataset(spec, spec.cache_folder(options.work_dir))
    root = options.work_dir / "api"
    root.mkdir(parents=True, exist_ok=True)
    catalog_path = root / "catalog.db"
    catalog_path.unlink(missing_ok=True)
    embedder = load_embedder(load_settings(embedder="effnet-minilm"))
    space = VectorSpace(embedder.identity, 0.6, 0.4)
    server = LocalMilvusServer(root / "milvus").start()
    api: subprocess.Popen[bytes] | None = None
    try:
        settings = load_settings(
            milvus_address=server.address,
            nprobe=options.nprobe,
            milvus_timeout_ms=600_000,
            database_url=f"sqlite:///{catalog_path}",
        )
        with VectorStore.connect(settings, space.id) as store:
            t0 = time.perf_counter()
            written = [0]

            def on_batch(rows: int) -> None:
                written[0] += rows
                report("milvus", written[0], spec.n)

            write_all(
                store,
                product_batches(dataset, settings.ingest_batch_size),
                concurrency=options.writers,
                on_batch=on_batch,
            )
            store.flush()
            load_s = time.perf_counter() - t0

            t0 = time.perf_counter()
            with Catalog.connect(settings.database_url) as catalog:
                fill_catalog(catalog, dataset, space, report)
            catalog_s = time.perf_counter() - t0

            rng = np.random.default_rng(spec.seed + 7)
            rows = rng.choice(spec.n, size=min(options.sample, spec.n), replace=False)
            base = dataset.base()
            vectors = np.ascontiguousarray(base[rows])
            ids = [int(r) + 1 for r in rows]

            def raw(i: int) -> None:
                store.search(
                    vectors[i],
                    limit=10,
                    threshold=SIMILAR_DEFAULT_THRESHOLD,
                    filters=SearchFilters(exclude_ids=(ids[i],)),
                )

            report("settling", 0, 1)
            watch = SegmentWatch(settings, settings.collection_name)
            settle(
                store,
                watch,
                lambda q: np.asarray(
                    [h.product_id for h in store.search(q, limit=10)[0]], dtype=np.int64
                ),
                vectors,
                SettleOptions(),
                flush_s=0.0,
            )
            watch.close()
            report("raw search", 0, 1)
            for i in range(50):  # warm-up
                raw(i)
            samples = []
            for i in range(len(ids)):
                t = time.perf_counter()
                raw(i)
                samples.append(time.perf_counter() - t)
            raw_latency = Latency.of_seconds(samples)

        port = free_port()
        env = {
            **os.environ,
            "MILVUS_ADDRESS": server.address,
            "DATABASE_URL": settings.database_url,
            "SOKO_EMBEDDER": "effnet-minilm",
            "SOKO_NPROBE": str(options.nprobe),
            "SOKO_PORT": str(port),
            "SOKO_HOST": "127.0.0.1",
            "SOKO_LOG_LEVEL": "WARNING",
        }
        base_url = f"http://127.0.0.1:{port}"
        report("starting the API", 0, 1)
        api = start_api(env, root / "serve.log", base_url)
        report("HTTP", 0, 1)
        http = measure_similar_http(
            base_url, ids, clients=options.clients, duration_s=options.duration_s, warmup=50
        )
    finally:
        if api is not None:
            stop_api(api)
        server.stop(grace_s=0.5)
    one = next(t for t in http.results if t.clients == 1) if 1 in options.clients else None
    return ApiBenchResults(
        n=spec.n,
        sampled_products=len(ids),
        nprobe=options.nprobe,
        threshold=SIMILAR_DEFAULT_THRESHOLD,
        machine=describe_machine(),
        load_s=load_s,
        catalog_s=catalog_s,
        raw_search=raw_latency,
        http=http,
        api_over_raw_p50=(one.latency.p50_ms / raw_latency.p50_ms) if one else 0.0,
        api_over_raw_p99=(one.latency.p99_ms / raw_latency.p99_ms) if one else 0.0,
        wall_s=time.perf_counter() - started,
    )


def write_api_results(results: ApiBenchResults, out_dir: Path, label: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"api-{label}.json"
    path.write_text(results.model_dump_json(indent=2) + "\n")
    return path
