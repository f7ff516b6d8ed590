"""`soko ...`: the command line. Output goes to stdout; errors are one line on stderr.

Every `SokoError` maps to one exit code in `EXIT_CODES`; nothing prints a traceback.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from soko.config import Settings, load_settings
from soko.errors import (
    ConfigError,
    EmbedderMismatch,
    InvalidImage,
    InvalidInput,
    SchemaMismatch,
    SokoError,
    VectorStoreLocked,
    VectorStoreUnavailable,
)
from soko.logs import configure_logging

#: One table from error class to exit code; the first matching class wins.
EXIT_CODES: tuple[tuple[type[SokoError], int], ...] = (
    (ConfigError, 2),
    (InvalidInput, 2),
    (VectorStoreUnavailable, 3),
    (VectorStoreLocked, 3),
    (SchemaMismatch, 4),
    (EmbedderMismatch, 4),
    (InvalidImage, 2),
    (SokoError, 1),
)

app = typer.Typer(
    name="soko",
    help="Soko visual search: product-similarity search over SigLIP vectors in Milvus.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
index_app = typer.Typer(help="Manage the vector index.", no_args_is_help=True)
app.add_typer(index_app, name="index")

out = Console(highlight=False, soft_wrap=True)


def exit_code_for(exc: SokoError) -> int:
    return next(code for cls, code in EXIT_CODES if isinstance(exc, cls))


def settings_from_env() -> Settings:
    """Settings for a CLI command, with logging configured from them."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings


@app.command()
def health(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Check Milvus: vector count, collection, index and status. Exit 3 if unreachable."""
    from soko.vectorstore import VectorStore

    settings = settings_from_env()
    with VectorStore.open_existing(settings) as store:
        stats = store.stats()
    if as_json:
        out.print_json(json.dumps({**asdict(stats), "running_embedder": _running_space(settings)}))
        return
    location = settings.milvus_uri if stats.backend == "lite" else settings.milvus_address
    out.print(f"status: {stats.status}")
    out.print(f"collection: {stats.collection}")
    out.print(f"vectors: {stats.row_count}")
    out.print(f"backend: {stats.backend} ({stats.server_version}) at {location}")
    if stats.index_type:
        out.print(
            f"index: {stats.index_type} ({stats.index_state}, {stats.indexed_rows} indexed, "
            f"{stats.pending_index_rows} pending)"
        )
    out.print(f"collection embedder: {stats.embedder or '-'}")
    _print_running_embedder(settings, stats.embedder)


@index_app.command("rebuild")
def index_rebuild(
    nlist: Annotated[
        int | None, typer.Option(min=1, max=65536, help="New nlist (IVF indexes).")
    ] = None,
) -> None:
    """Drop and re-create the vector index, wait until it is built, and reload."""
    from soko.vectorstore import VectorStore

    settings = settings_from_env()
    with VectorStore.open_existing(settings) as store:
        if not store.exists():
            raise InvalidInput(f"collection {settings.collection_name!r} does not exist yet")
        with out.status("rebuilding index..."):
            store.rebuild_index(nlist=nlist)
        info = store.index_info()
    out.print(f"index rebuilt: {info.get('index_type')} {store.spec.index_build_params()}")


@app.command("milvus-server")
def milvus_server(
    data: Annotated[Path, typer.Option(help="Data folder of the server.")] = Path(
        "./data/milvus-server"
    ),
) -> None:
    """Run a local Milvus standalone server (PyPI `milvus`) in the foreground until Ctrl+C."""
    from soko.vectorstore.server import LocalMilvusServer

    settings_from_env()
    server = LocalMilvusServer(data)
    with out.status("starting milvus server..."):
        server.start()
    out.print(f"Milvus server pid {server.pid} ready: MILVUS_ADDRESS={server.address}")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(1.0):
            if server.pid is None:
                break
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


# --- embeddings: embed, eval, bench embed, reindex -------------------------------------------
bench_app = typer.Typer(help="Measure speed on this machine (JSON under bench/results/).")
app.add_typer(bench_app, name="bench")
err = Console(stderr=True, highlight=False)


def _running_space(settings: Settings) -> str:
    """The vector space this process writes and queries: embedder identity + weights."""
    from soko.embedding import load_embedder, vector_space_id

    embedder = load_embedder(settings)
    return vector_space_id(embedder.identity, settings.image_weight, settings.text_weight)


def _print_running_embedder(settings: Settings, recorded: str | None) -> None:
    from soko.errors import EmbedderUnavailable

    try:
        running = _running_space(settings)
    except EmbedderUnavailable as exc:
        out.print(f"embedder: unavailable ({exc})")
        raise typer.Exit(1) from None
    out.print(f"embedder: {running}")
    if recorded is not None and recorded != running:
        out.print(
            "embedder mismatch: the collection holds vectors of another embedder or other "
            "fusion weights; run `soko reindex` to rebuild it with the running one"
        )


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


@app.command()
def embed(
    image: Annotated[
        Path | None, typer.Option("--image", help="Product photo (JPEG, PNG, WebP, ...).")
    ] = None,
    text: Annotated[str | None, typer.Option("--text", help="Product name and description.")] = (
        None
    ),
    values: Annotated[int, typer.Option(min=1, max=768, help="Values shown per vector.")] = 8,
) -> None:
    """Embed one photo and/or text; print the embedder id and the image, text and hybrid vectors."""
    from soko.embedding import fuse, load_embedder, read_image_file, vector_space_id

    if image is None and (text is None or not text.strip()):
        raise InvalidInput("give --image PATH, --text TEXT, or both")
    settings = settings_from_env()
    embedder = load_embedder(settings)
    image_vector = text_vector = None
    if image is not None:
        photo = read_image_file(
            image, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels
        )
        image_vector = embedder.encode_images([photo])
    if text is not None and text.strip():
        text_vector = embedder.encode_texts([text])
    hybrid = fuse(image_vector, text_vector, settings.image_weight, settings.text_weight)
    out.print(f"embedder: {embedder.identity} ({embedder.dim} dimensions)")
    space = vector_space_id(embedder.identity, settings.image_weight, settings.text_weight)
    out.print(f"vector space: {space}")
    for label, vector in (("image", image_vector), ("text", text_vector), ("hybrid", hybrid)):
        if vector is None:
            out.print(f"{label}: - (no {label} given)")
        else:
            shown = ", ".join(f"{v:+.4f}" for v in vector[0, :values])
            out.print(f"{label}: [{shown}, ...] norm={float(np.linalg.norm(vector[0])):.4f}")


@app.command("eval")
def eval_catalog(
    catalog: Annotated[Path, typer.Argument(help="Catalog CSV (name, category, image_file, ...).")],
    group_column: Annotated[
        str, typer.Option(help="Column grouping photos of one product (used if present).")
    ] = "class_name",
    image_column: Annotated[str, typer.Option(help="Column with image paths.")] = "image_file",
    k: Annotated[int, typer.Option(min=1, max=100, help="Neighbours per query.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Retrieval quality on a labelled catalog: category precision@k, same-product hit rate@k."""
    from soko.embedding import load_embedder
    from soko.evaluation import evaluate, read_catalog

    settings = settings_from_env()
    rows, used_group = read_catalog(catalog, image_column=image_column, group_column=group_column)
    embedder = load_embedder(settings)
    with _progress() as bar:
        tasks: dict[str, TaskID] = {}

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(f"embedding {what}", total=total)
            bar.update(tasks[what], completed=done)

        report = evaluate(
            rows,
            embedder,
            catalog=str(catalog),
            image_weight=settings.image_weight,
            text_weight=settings.text_weight,
            batch_size=settings.embed_batch_size,
            max_image_bytes=settings.max_image_bytes,
            max_image_pixels=settings.max_image_pixels,
            k=k,
            progress=progress,
        )
    if as_json:
        out.print_json(json.dumps(asdict(report)))
        return
    groups = f", {report.groups} products grouped by {used_group}" if report.groups else ""
    out.print(f"catalog: {catalog} ({report.rows} rows, {report.categories} categories{groups})")
    out.print(f"embedder: {report.vector_space}")
    if report.missing_images:
        out.print(f"rows without a readable image: {report.missing_images}")
    out.print(
        f"{'variant':<15}{'queries':>8}{f'cat P@{k}':>11}{'ceiling':>9}"
        f"{f'same hit@{k}':>13}{f'same R@{k}':>11}"
    )
    for v in report.variants:
        hit, recall = (
            "-" if x is None else f"{x:.3f}"
            for x in (v.same_product_hit_rate, v.same_product_recall)
        )
        out.print(
            f"{v.name:<15}{v.queries:>8}{v.precision_at_k:>11.3f}{v.precision_ceiling:>9.3f}"
            f"{hit:>13}{recall:>11}"
        )


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
    from soko.bench.embed import run

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


@app.command()
def reindex(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop the collection and re-create it empty for the running embedder and weights.

    Use after changing SOKO_EMBEDDER, SOKO_SIGLIP_MODEL or the fusion weights; then
    re-ingest from the catalog.
    """
    from soko.vectorstore import VectorStore

    settings = settings_from_env()
    space = _running_space(settings)
    with VectorStore.open_existing(settings) as store:
        if store.exists():
            recorded = store.recorded_embedder() or "an unknown embedder"
            if not yes:
                typer.confirm(
                    f"drop {store.count()} vectors of {recorded} in "
                    f"{settings.collection_name!r} and re-create it for {space}?",
                    abort=True,
                    err=True,
                )
            store.drop()
    with VectorStore.connect(settings, space):
        pass
    out.print(f"collection {settings.collection_name!r} re-created for {space} (0 vectors)")
    from soko.catalog import Catalog

    with Catalog.connect(settings.database_url) as catalog:
        rehydrate, rewrite = catalog.reset_for_reindex(space)
    out.print(
        f"catalog: {rehydrate} products to re-embed, {rewrite} to re-ingest; "
        "next: `soko sync` (hydrate + ingest)"
    )


# --- soko bench search ---------------------------------------------------------------------


def _int_list(value: str, option: str) -> tuple[int, ...]:
    try:
        items = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise InvalidInput(f"{option}: expected comma-separated integers, got {value!r}") from None
    if not items or any(i < 1 for i in items):
        raise InvalidInput(f"{option}: expected positive integers, got {value!r}")
    return items


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
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from soko.bench.dataset import DatasetSpec
    from soko.bench.measure import MeasureOptions
    from soko.bench.search_bench import (
        BACKENDS,
        SearchBenchOptions,
        run_search_bench,
        write_results,
    )
    from soko.config import IndexType

    settings = settings_from_env()
    chosen = tuple(b.strip() for b in backends.split(",") if b.strip())
    unknown = [b for b in chosen if b not in BACKENDS]
    if unknown or not chosen:
        raise InvalidInput(f"--backends: unknown {unknown}; choose from {', '.join(BACKENDS)}")
    try:
        indexes = tuple(IndexType(i.strip().upper()) for i in server_indexes.split(",") if i)
    except ValueError:
        raise InvalidInput(f"--server-indexes: unknown index in {server_indexes!r}") from None
    efs = _int_list(ef, "--ef")
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
        nprobes=_int_list(nprobe, "--nprobe"),
        efs=efs,
        batch_size=batch_size or settings.ingest_batch_size,
        writers=writers,
        keep_loaded=keep_loaded,
        measure=MeasureOptions(
            clients=_int_list(clients, "--clients"),
            duration_s=duration,
            max_latency_s=max_latency_s,
        ),
        work_dir=work_dir,
        command="soko bench search " + " ".join(sys.argv[3:]),
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
    from soko.bench.report import markdown_table

    out.print(markdown_table(results))
    out.print(f"results: {paths['json']}  plot: {paths['plot']}  table: {paths['table']}")
    out.print(f"wall time: {results.wall_s:.0f} s")


def main() -> None:
    try:
        app()
    except SokoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


# --- catalog, hydrate and ingest ------------------------------------------------------------
#: Rejected rows printed by `soko import` before it only counts the rest.
SHOWN_PROBLEMS = 50


@app.command("import")
def import_catalog(
    file: Annotated[Path, typer.Argument(help="A .csv or .jsonl catalog file.")],
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: from the extension).")
    ] = None,
) -> None:
    """Validate and upsert a catalog file; bad rows are reported with their line and skipped.

    Columns: product_id, name, description, category, price, seller_id, and image_url or
    image_path (relative paths are relative to the file). Exit 1 if any row was rejected.
    """
    _run_import(settings_from_env(), file, file_format)


def _run_import(settings: Settings, file: Path, file_format: str | None = None) -> None:
    from soko.catalog import Catalog
    from soko.catalog.importer import count_lines, import_file

    total = count_lines(file) if file.is_file() else 0
    with Catalog.connect(settings.database_url) as catalog, _progress() as progress:
        task = progress.add_task(f"importing {file.name}", total=max(total, 1))
        report = import_file(
            catalog,
            file,
            fmt=file_format,
            on_progress=lambda line: progress.update(task, completed=line),
        )
        progress.update(task, completed=max(total, 1))
    r = report.result
    for problem in report.problems[:SHOWN_PROBLEMS]:
        out.print(f"rejected {problem}")
    if len(report.problems) > SHOWN_PROBLEMS:
        out.print(f"... and {len(report.problems) - SHOWN_PROBLEMS} more rejected rows")
    out.print(
        f"{file.name}: {report.rows} rows: {r.inserted} new, {r.updated} updated, "
        f"{r.restored} restored, {r.unchanged} unchanged, {len(report.problems)} rejected"
    )
    if report.problems:
        raise typer.Exit(1)


def _stop_on_sigterm() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


InFlightOption = Annotated[
    int | None,
    typer.Option(
        "--in-flight",
        min=0,
        max=16,
        help="Batches written at once while the next is read (0: one at a time; "
        "default 2 on a server, 1 on Milvus Lite).",
    ),
]


def _run_ingest(
    settings: Settings, batch_size: int | None, follow: bool, in_flight: int | None = None
) -> None:
    from soko.catalog import Catalog, IngestQueue
    from soko.ingest import IngestWorker

    stop = _stop_on_sigterm()
    with (
        Catalog.connect(settings.database_url) as catalog,
        IngestWorker(settings, catalog, batch_size=batch_size, in_flight=in_flight) as worker,
        _progress() as progress,
    ):
        pending = IngestQueue(catalog).pending_count()
        task = progress.add_task("ingesting", total=None if follow else pending)
        try:
            if follow:
                worker.follow(stop, on_batch=lambda b: progress.advance(task, b.claimed))
            else:
                worker.run(stop=stop, on_batch=lambda b: progress.advance(task, b.claimed))
        except KeyboardInterrupt:
            stop.set()
        stats = worker.stats
    out.print(
        f"ingest: {stats.upserted} upserted, {stats.deleted} deleted, {stats.marked} marked "
        f"in {stats.batches} batches; {stats.changed_meanwhile} changed meanwhile (still pending)"
    )
    if stats.bad_vectors:
        raise InvalidInput(
            f"{len(stats.bad_vectors)} products have unusable stored vectors and were not "
            f"written (e.g. {sorted(stats.bad_vectors)[:5]}); run `soko hydrate` for them"
        )


@app.command()
def ingest(
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep running and ingest new changes as they come.")
    ] = False,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, max=100_000, help="Rows per Milvus write (SOKO_INGEST_BATCH_SIZE)."),
    ] = None,
    in_flight: InFlightOption = None,
) -> None:
    """Write pending catalog rows (new, changed, deleted) to Milvus and mark them written."""
    _run_ingest(settings_from_env(), batch_size, follow, in_flight)


def _run_hydrate(settings: Settings, limit: int | None) -> None:
    from soko.catalog import Catalog
    from soko.embedding import load_embedder
    from soko.hydrate import Hydrator

    embedder = load_embedder(settings)
    with (
        Catalog.connect(settings.database_url) as catalog,
        Hydrator(settings, catalog, embedder) as hydrator,
        _progress() as progress,
    ):
        due = hydrator.due_count()
        task = progress.add_task("hydrating", total=min(due, limit) if limit else due)
        stats = hydrator.run(limit=limit, on_chunk=partial(progress.advance, task))
    out.print(
        f"hydrate: {stats.stored} products embedded ({stats.images} images, "
        f"{stats.image_failures} image failures kept text-only or their previous image vector, "
        f"to be retried); {stats.changed_meanwhile} changed meanwhile"
    )
    for product_id, error in list(stats.errors.items())[:SHOWN_PROBLEMS]:
        out.print(f"image failed for product {product_id}: {error}")


@app.command()
def hydrate(
    limit: Annotated[
        int | None, typer.Option(min=1, help="Hydrate at most this many products.")
    ] = None,
) -> None:
    """Embed products that are new, changed, stale or due an image retry; store their vectors."""
    _run_hydrate(settings_from_env(), limit)


@app.command()
def sync(
    follow: Annotated[
        bool,
        typer.Option("--follow", help="Keep running: hydrate and ingest changes as they come."),
    ] = False,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, max=100_000, help="Rows per Milvus write (SOKO_INGEST_BATCH_SIZE)."),
    ] = None,
    in_flight: InFlightOption = None,
) -> None:
    """`soko hydrate`, then `soko ingest`: bring Milvus up to date with the catalog."""
    settings = settings_from_env()
    _run_hydrate(settings, None)
    _run_ingest(settings, batch_size, follow=False, in_flight=in_flight)
    if follow:
        from soko.catalog import Catalog
        from soko.embedding import load_embedder
        from soko.sync import SyncWorker

        stop = _stop_on_sigterm()
        out.print("following the catalog (Ctrl+C to stop)")
        with (
            Catalog.connect(settings.database_url) as catalog,
            SyncWorker(settings, catalog, load_embedder(settings)) as worker,
        ):
            try:
                worker.follow(stop)
            except KeyboardInterrupt:
                stop.set()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (SOKO_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Listen port (SOKO_PORT).")
    ] = None,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Run hydrate + ingest in this process (needed with Milvus Lite; with a "
            "server, run `soko sync --follow` elsewhere and pass --no-worker).",
        ),
    ] = True,
) -> None:
    """Serve the HTTP API and the web page (uvicorn)."""
    import uvicorn

    from soko.api import create_app

    settings = settings_from_env()
    app_ = create_app(settings, run_worker=worker)
    listen_host, listen_port = host or settings.host, port or settings.port
    out.print(f"Soko visual search on http://{listen_host}:{listen_port}/ (API docs at /docs)")
    uvicorn.run(
        app_,
        host=listen_host,
        port=listen_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )


@app.command()
def demo(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the photos and catalog.csv.")
    ] = None,
    count: Annotated[int, typer.Option(min=8, max=100_000, help="Products to make.")] = 1200,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same catalog).")] = 7,
) -> None:
    """Make the synthetic demo catalog (rendered photos, names in English, Swahili, French)
    and import it into the catalog. Then `soko sync` embeds and indexes it."""
    from soko.demo import write_catalog

    settings = settings_from_env()
    folder = out_dir or settings.data_dir / "demo"
    with out.status(f"rendering {count} demo products into {folder}..."):
        csv_path = write_catalog(folder, count=count, seed=seed)
    out.print(f"demo catalog: {csv_path}")
    _run_import(settings, csv_path)


@app.command()
def reconcile(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report drift, change nothing.")
    ] = False,
    no_ingest: Annotated[
        bool, typer.Option("--no-ingest", help="Only mark rows pending; do not write them now.")
    ] = False,
) -> None:
    """Compare catalog and Milvus; repair rows missing or stale in Milvus, remove extra ones."""
    from soko.catalog import Catalog
    from soko.reconcile import reconcile as run_reconcile
    from soko.vectorstore import VectorStore

    settings = settings_from_env()
    with Catalog.connect(settings.database_url) as catalog:
        space = catalog.vector_space()
        if space is None:
            out.print("reconcile: the catalog holds no vectors yet; nothing to compare")
            return
        with VectorStore.connect(settings, space) as store, out.status("comparing..."):
            report = run_reconcile(catalog, store, dry_run=dry_run)
    verb = "would be" if dry_run else "were"
    out.print(f"catalog rows: {report.catalog_rows}, Milvus rows: {report.milvus_rows}")
    for label, ids, action in (
        ("missing in Milvus", report.missing, "made pending"),
        ("stale in Milvus", report.stale, "made pending"),
        ("deleted in the catalog but in Milvus", report.deleted, "removed from Milvus"),
        ("unknown to the catalog", report.unknown, "removed from Milvus"),
    ):
        shown = ", ".join(map(str, ids[:20])) + (" ..." if len(ids) > 20 else "")
        out.print(f"{label}: {len(ids)}" + (f" ({verb} {action}: {shown})" if ids else ""))
    if not report.drift:
        out.print("no drift")
    elif report.applied and not no_ingest and (report.missing or report.stale):
        _run_ingest(settings, None, follow=False)


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

    from soko.bench.ingest import bench_settings, new_workdir, run_ingest_bench, write_result
    from soko.vectorstore.server import LocalMilvusServer

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
            with _progress() as progress:
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
