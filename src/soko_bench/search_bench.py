"""`soko-bench search`: the whole benchmark, from data set to results file and plot."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from soko.config import IndexType
from soko_bench.dataset import Dataset, DatasetSpec, build_dataset
from soko_bench.measure import MeasureOptions, Report
from soko_bench.milvus_run import MilvusJob, SettleOptions, run_milvus, run_milvus_in_child
from soko_bench.references import run_faiss_ivf_flat, run_numpy_exact
from soko_bench.results import DatasetInfo, Ratios, Results, Run, describe_machine
from soko_bench.stats import ratio

log = logging.getLogger(__name__)

BACKENDS = ("numpy", "faiss", "lite", "server")


@dataclass(frozen=True)
class SearchBenchOptions:
    spec: DatasetSpec
    backends: Sequence[str] = BACKENDS
    server_indexes: Sequence[IndexType] = (IndexType.IVF_FLAT, IndexType.HNSW, IndexType.IVF_SQ8)
    lite_indexes: Sequence[IndexType] = (IndexType.IVF_FLAT,)
    nlist: int = 1024
    nprobes: Sequence[int] = (8, 16, 32, 64)
    efs: Sequence[int] = (16, 32, 64, 128)
    hnsw_m: int = 16
    hnsw_ef_construction: int = 200
    batch_size: int = 1000
    writers: int = 4
    keep_loaded: bool = True
    measure: MeasureOptions = field(default_factory=MeasureOptions)
    settle: SettleOptions = field(default_factory=SettleOptions)
    work_dir: Path = Path("bench/out")
    command: str = "soko-bench search"


def size_label(n: int) -> str:
    """100000 -> 100k, 1000000 -> 1m, 12345 -> 12345."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def add_faiss_ratios(runs: list[Run]) -> None:
    """Fill `to_faiss` on every IVF point that has a FAISS point at the same nprobe."""
    faiss = next((r for r in runs if r.backend == "faiss"), None)
    if faiss is None:
        return
    by_nprobe = {p.param: p for p in faiss.points}
    for run in runs:
        if run.backend == "faiss" or not run.index.startswith("IVF"):
            continue
        for point in run.points:
            ref = by_nprobe.get(point.param)
            if ref is None:
                continue
            point.to_faiss = Ratios(
                p50=ratio(point.latency.p50_ms, ref.latency.p50_ms),
                p99=ratio(point.latency.p99_ms, ref.latency.p99_ms),
                qps_1=ratio(point.throughput[0].qps, ref.throughput[0].qps),
                recall=ratio(point.recall_at_k, ref.recall_at_k),
            )


def run_search_bench(
    options: SearchBenchOptions,
    report: Report | None = None,
    on_dataset: Callable[[str, int, int], None] | None = None,
) -> Results:
    started = time.perf_counter()
    machine = describe_machine()
    spec = options.spec
    folder = spec.cache_folder(options.work_dir)
    generated, truthed = [0], [0]

    def gen(n: int) -> None:
        generated[0] += n
        if on_dataset is not None:
            on_dataset("generating vectors", generated[0], spec.n)

    def truth(n: int) -> None:
        truthed[0] += n
        if on_dataset is not None:
            on_dataset("exact top-k ground truth", truthed[0], spec.n)

    dataset = build_dataset(spec, folder, on_generate=gen, on_truth=truth)
    runs: list[Run] = []
    for backend in options.backends:
        runs.extend(_run_backend(backend, dataset, options, report))
    add_faiss_ratios(runs)
    return Results(
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        command=options.command,
        wall_s=time.perf_counter() - started,
        machine=machine,
        dataset=DatasetInfo(
            n=spec.n,
            queries=spec.queries,
            dim=spec.dim,
            clusters=spec.clusters,
            categories=spec.categories,
            spread=spec.spread,
            cluster_spread=spec.cluster_spread,
            seed=spec.seed,
            k=spec.k,
            generate_s=dataset.generate_s,
            ground_truth_s=dataset.ground_truth_s,
        ),
        runs=runs,
    )


def _run_backend(
    backend: str, dataset: Dataset, options: SearchBenchOptions, report: Report | None
) -> list[Run]:
    def labelled(prefix: str) -> Report:
        def inner(what: str, done: int, total: int) -> None:
            if report is not None:
                report(f"{prefix}: {what}", done, total)

        return inner

    measure = options.measure
    if backend == "numpy":
        return [run_numpy_exact(dataset, measure, labelled("numpy exact"))]
    if backend == "faiss":
        faiss_measure = replace(measure, params=tuple(options.nprobes))
        return [
            run_faiss_ivf_flat(dataset, options.nlist, faiss_measure, labelled("faiss IVF_FLAT"))
        ]
    if backend not in {"lite", "server"}:
        raise ValueError(f"unknown backend {backend!r}")
    indexes = options.lite_indexes if backend == "lite" else options.server_indexes
    runs = []
    for index in indexes:
        params = options.efs if index is IndexType.HNSW else options.nprobes
        job = MilvusJob(
            backend=backend,
            index=index,
            spec=dataset.spec,
            dataset_folder=dataset.folder,
            work_dir=options.work_dir / "milvus",
            nlist=options.nlist,
            hnsw_m=options.hnsw_m,
            hnsw_ef_construction=options.hnsw_ef_construction,
            batch_size=options.batch_size,
            writers=options.writers,
            keep_loaded=options.keep_loaded,
            measure=replace(measure, params=tuple(params)),
            settle=options.settle,
        )
        log.info("bench: %s %s", backend, index.value)
        if backend == "lite":
            runs.append(run_milvus_in_child(job, report))
        else:
            runs.append(run_milvus(job, report))
    return runs


def write_results(results: Results, out_dir: Path) -> dict[str, Path]:
    """results JSON, the recall/latency plot and a markdown table, named by data size."""
    from soko_bench.report import markdown_table, plot_recall_latency

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"search-{size_label(results.dataset.n)}"
    paths = {
        "json": out_dir / f"{stem}.json",
        "plot": out_dir / f"{stem}.png",
        "table": out_dir / f"{stem}.md",
    }
    paths["json"].write_text(results.model_dump_json(indent=2, by_alias=True) + "\n")
    plot_recall_latency(results, paths["plot"])
    paths["table"].write_text(markdown_table(results))
    return paths
