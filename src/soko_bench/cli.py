"""`soko-bench ...`: speed on this machine, results as JSON under bench/results/.

Its own command, so that the runtime package never imports the benchmarks; errors map to
exit codes through `soko`'s own table, as they do for `soko`.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from soko.cli.app import err, int_list, out, progress_bars, run, settings_from_env
from soko.cli.catalog import InFlightOption
from soko.errors import InvalidInput

bench_app = typer.Typer(
    name="soko-bench",
    help="Measure Soko's speed on this machine (JSON and plots under bench/results/).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def main() -> None:
    run(bench_app)


@bench_app.command("embed")
def bench_embed(
    images: Annotated[int, typer.Option(min=1, help="Images to encode per embedder.")] = 64,
    texts: Annotated[int, typer.Option(min=1, help="Texts to encode per embedder.")] = 256,
    random_siglip: Annotated[
        bool,
        typer.Option(
            help="Also time a random-weight model with siglip-base's architecture (real speed)."
        ),
    ] = True,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the JSON.")] = Path(
        "bench/results"
    ),
) -> None:
    """Images/s and texts/s of each embedder available here; writes bench/results/embed-*.json."""
    from soko_bench.embed import run

    settings = settings_from_env()
    with err.status("measuring..."):
        _, path = run(
            settings,
            n_images=images,
            n_texts=texts,
            random_siglip=random_siglip,
            out_dir=out_dir,
            report=out.print,
        )
    out.print(f"written: {path}")


@bench_app.command("search")
def bench_search(
    n: Annotated[int, typer.Option(min=10, help="Base vectors.")] = 100_000,
    queries: Annotated[int, typer.Option(min=10, help="Held-out queries.")] = 1000,
    clusters: Annotated[int, typer.Option(min=1, help="Clusters in the mixture.")] = 2048,
    categories: Annotated[int, typer.Option(min=1, help="Categories (partition key).")] = 32,
    spread: Annotated[float, typer.Option(min=0.0, help="Noise around a cluster centre.")] = 0.6,
    seed: Annotated[int, typer.Option(help="Seed of the data set.")] = 0,
    backends: Annotated[
        str, typer.Option(help="Comma-separated: numpy, faiss, lite, server.")
    ] = "numpy,faiss,lite,server",
    server_indexes: Annotated[
        str, typer.Option(help="Index types on the server.")
    ] = "IVF_FLAT,HNSW,IVF_SQ8",
    nlist: Annotated[
        int | None, typer.Option(min=1, help="IVF lists (default SOKO_NLIST).")
    ] = None,
    nprobe: Annotated[str, typer.Option(help="nprobe values (IVF).")] = "8,16,32,64",
    ef: Annotated[str, typer.Option(help="ef values (HNSW; at least 10).")] = "16,32,64,128",
    clients: Annotated[str, typer.Option(help="Concurrent clients for throughput.")] = "1,4,16",
    duration: Annotated[
        float, typer.Option(min=0.5, help="Seconds per concurrent-clients run.")
    ] = 2.0,
    max_latency_s: Annotated[
        float, typer.Option(min=1.0, help="Cap on one single-client run (>= 100 queries).")
    ] = 8.0,
    writers: Annotated[int, typer.Option(min=1, max=64, help="Concurrent writers.")] = 4,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Rows per write (default SOKO_INGEST_BATCH_SIZE).")
    ] = None,
    keep_loaded: Annotated[
        bool,
        typer.Option(
            "--keep-loaded/--release-while-writing",
            help="Server collection loaded while writing (live ingest) or released (bulk load).",
        ),
    ] = True,
    results_dir: Annotated[Path, typer.Option("--out", help="Folder for results.")] = Path(
        "bench/results"
    ),
    work_dir: Annotated[Path, typer.Option(help="Data set cache and Milvus data.")] = Path(
        "bench/out"
    ),
) -> None:
    """Recall, latency, throughput, insertion, disk and memory: Milvus vs FAISS vs exact."""

    from soko.config import IndexType
    from soko_bench.dataset import DatasetSpec
    from soko_bench.measure import MeasureOptions
    from soko_bench.search_bench import (
        BACKENDS,
        SearchBenchOptions,
        run_search_bench,
        write_results,
    )

    settings = settings_from_env()
    chosen = tuple(b.strip() for b in backends.split(",") if b.strip())
    unknown = [b for b in chosen if b not in BACKENDS]
    if unknown or not chosen:
        raise InvalidInput(f"--backends: unknown {unknown}; choose from {', '.join(BACKENDS)}")
    try:
        indexes = tuple(IndexType(i.strip().upper()) for i in server_indexes.split(",") if i)
    except ValueError:
        raise InvalidInput(f"--server-indexes: unknown index in {server_indexes!r}") from None
    efs = int_list(ef, "--ef")
    if min(efs) < 10:
        raise InvalidInput("--ef: HNSW needs ef >= k (10)")
    try:
        spec = DatasetSpec(
            n=n, queries=queries, clusters=clusters, categories=categories, spread=spread, seed=seed
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    options = SearchBenchOptions(
        spec=spec,
        backends=chosen,
        server_indexes=indexes,
        nlist=nlist or settings.nlist,
        nprobes=int_list(nprobe, "--nprobe"),
        efs=efs,
        batch_size=batch_size or settings.ingest_batch_size,
        writers=writers,
        keep_loaded=keep_loaded,
        measure=MeasureOptions(
            clients=int_list(clients, "--clients"),
            duration_s=duration,
            max_latency_s=max_latency_s,
        ),
        work_dir=work_dir,
        command="soko-bench search " + " ".join(sys.argv[2:]),
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=1)

        def report(what: str, done: int, total: int) -> None:
            progress.update(task, description=what, completed=done, total=max(total, 1))

        results = run_search_bench(options, report, report)
    paths = write_results(results, results_dir)
    from soko_bench.report import markdown_table

    out.print(markdown_table(results))
    out.print(f"results: {paths['json']}  plot: {paths['plot']}  table: {paths['table']}")
    out.print(f"wall time: {results.wall_s:.0f} s")


@bench_app.command("load")
def bench_load(
    n: Annotated[int, typer.Option(min=100, help="Products in the catalog and Milvus.")] = 100_000,
    rates: Annotated[
        str, typer.Option(help="Offered queries/s, one step each (open loop).")
    ] = "10,20,30,40,50,60,80,100",
    step: Annotated[float, typer.Option(min=5.0, help="Seconds per offered rate.")] = 30.0,
    writes: Annotated[
        float, typer.Option(min=0.1, help="Product creates/changes/deletes per second.")
    ] = 2.0,
    results_dir: Annotated[Path, typer.Option("--out", help="Folder for results.")] = Path(
        "bench/results"
    ),
    work_dir: Annotated[Path, typer.Option(help="Data set cache and Milvus data.")] = Path(
        "bench/out"
    ),
) -> None:
    """`soko serve` on a Milvus server under rising offered load (Locust) while a writer
    changes the catalog: latency per step and the highest rate held at p99 <= 150 ms."""
    from soko_bench.load import LoadOptions, run_load, write_load_results
    from soko_bench.search_bench import size_label

    settings_from_env()
    options = LoadOptions(
        n=n,
        rates=tuple(int_list(rates, "--rates")),
        step_s=step,
        work_dir=work_dir,
        writes_per_s=writes,
    )
    with progress_bars() as progress:
        task = progress.add_task("load", total=None)

        def report(what: str, done: int, total: int) -> None:
            progress.update(task, description=what, completed=done, total=total)

        results = run_load(options, report)
    paths = write_load_results(results, results_dir, size_label(n))
    for s in results.steps:
        out.print(
            f"offered {s.offered_per_s:>4}/s: answered {s.achieved_per_s:.1f}/s, "
            f"p50 {s.latency.p50_ms:.1f} ms, p99 {s.latency.p99_ms:.1f} ms, "
            f"{s.errors} errors; writes {s.writes} ({s.write_errors} errors)"
            + ("" if s.held else "  <- not held")
        )
    out.print(f"held: {results.held_per_s} queries/s at p99 <= {results.p99_target_ms:.0f} ms")
    out.print(f"results: {paths['json']}  plot: {paths['plot']}")


@bench_app.command("api")
def bench_api(
    n: Annotated[
        int, typer.Option(min=100, help="Products in Milvus and the catalog.")
    ] = 1_000_000,
    sample: Annotated[int, typer.Option(min=10, help="Products queried.")] = 2000,
    clients: Annotated[str, typer.Option(help="Concurrent HTTP clients.")] = "1,4,16",
    duration: Annotated[float, typer.Option(min=1.0, help="Seconds per client count.")] = 10.0,
    results_dir: Annotated[Path, typer.Option("--out", help="Folder for results.")] = Path(
        "bench/results"
    ),
    work_dir: Annotated[Path, typer.Option(help="Data set cache and Milvus data.")] = Path(
        "bench/out"
    ),
) -> None:
    """`/api/products/similar` over HTTP on a Milvus server, beside the raw search it makes."""
    from soko_bench.api_bench import ApiBenchOptions, run_api_bench, write_api_results
    from soko_bench.dataset import DatasetSpec
    from soko_bench.search_bench import size_label

    settings_from_env()
    options = ApiBenchOptions(
        spec=DatasetSpec(n=n),
        work_dir=work_dir,
        sample=sample,
        clients=tuple(int_list(clients, "--clients")),
        duration_s=duration,
    )
    with progress_bars() as progress:
        task = progress.add_task("api bench", total=None)

        def report(what: str, done: int, total: int) -> None:
            progress.update(task, description=what, completed=done, total=total)

        results = run_api_bench(options, report)
    path = write_api_results(results, results_dir, size_label(n))
    one = next((t for t in results.http.results if t.clients == 1), None)
    raw = results.raw_search
    out.print(f"raw search: p50 {raw.p50_ms:.1f} ms, p99 {raw.p99_ms:.1f} ms")
    if one is not None:
        out.print(
            f"HTTP, 1 client: p50 {one.latency.p50_ms:.1f} ms, p99 {one.latency.p99_ms:.1f} ms "
            f"({results.api_over_raw_p50:.2f}x / {results.api_over_raw_p99:.2f}x the raw search)"
        )
    for t in results.http.results:
        out.print(
            f"HTTP, {t.clients} clients: {t.qps:.0f} req/s, p50 {t.latency.p50_ms:.1f} ms, "
            f"p99 {t.latency.p99_ms:.1f} ms, {t.errors} errors"
        )
    out.print(f"results: {path}")


@bench_app.command("ingest")
def bench_ingest(
    n: Annotated[int, typer.Option(min=1, help="Products to ingest.")] = 100_000,
    backend: Annotated[str, typer.Option(help="lite, server, or both.")] = "both",
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per batch.")] = 1000,
    in_flight: InFlightOption = None,
    milvus_address: Annotated[
        str | None,
        typer.Option(help="Use this Milvus server instead of starting one (server backend)."),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Catalog database (default: a fresh SQLite file).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the JSON.")] = Path(
        "bench/results"
    ),
) -> None:
    """Rows/s from catalog to searchable in Milvus, for n products with precomputed vectors."""
    import shutil

    from soko.vectorstore import LocalMilvusServer
    from soko_bench.ingest import bench_settings, new_workdir, run_ingest_bench, write_result

    if backend not in {"lite", "server", "both"}:
        raise InvalidInput("--backend must be lite, server or both", field="backend")
    base = settings_from_env()
    for name in ("lite", "server") if backend == "both" else (backend,):
        workdir = new_workdir()
        server: LocalMilvusServer | None = None
        try:
            if name == "lite":
                address = str(workdir / "milvus.db")
            elif milvus_address:
                address = milvus_address
            else:
                server = LocalMilvusServer(workdir / "milvus-server")
                with out.status("starting a Milvus server..."):
                    server.start()
                address = server.address
            settings = bench_settings(base, address, workdir, database_url)
            with progress_bars() as progress:
                task = progress.add_task(f"ingest into {name}", total=n)
                result = run_ingest_bench(
                    settings,
                    n,
                    batch_size=batch_size,
                    in_flight=in_flight,
                    on_progress=partial(progress.advance, task),
                )
            path = write_result(result, out_dir)
            out.print(
                f"{name}: {result.rows_per_s:,.0f} rows/s to searchable "
                f"({n} rows in {result.seconds_to_searchable:.1f}s; indexed after "
                f"{result.seconds_to_indexed:.1f}s); phases {result.phases} -> {path}"
            )
        finally:
            if server is not None:
                server.stop()
            shutil.rmtree(workdir, ignore_errors=True)
