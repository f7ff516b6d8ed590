"""`soko ...`: the command line. Output goes to stdout; errors are one line on stderr.

Every `SokoError` maps to one exit code in `EXIT_CODES`; nothing prints a traceback.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from soko.config import Settings, load_settings
from soko.errors import (
    ConfigError,
    EmbedderMismatch,
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
        out.print_json(json.dumps(asdict(stats)))
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
    out.print(f"embedder: {stats.embedder or '-'}")


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


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
        disable=not sys.stderr.isatty(),
    )


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
    from soko.catalog import Catalog
    from soko.catalog.importer import count_lines, import_file

    settings = settings_from_env()
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


def _run_ingest(settings: Settings, batch_size: int | None, follow: bool) -> None:
    from soko.catalog import Catalog, IngestQueue
    from soko.ingest import IngestWorker

    stop = _stop_on_sigterm()
    with (
        Catalog.connect(settings.database_url) as catalog,
        IngestWorker(settings, catalog, batch_size=batch_size) as worker,
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
) -> None:
    """Write pending catalog rows (new, changed, deleted) to Milvus and mark them written."""
    _run_ingest(settings_from_env(), batch_size, follow)


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


bench_app = typer.Typer(
    help="Benchmarks; each writes JSON under bench/results/.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")


@bench_app.command("ingest")
def bench_ingest(
    n: Annotated[int, typer.Option(min=1, help="Products to ingest.")] = 100_000,
    backend: Annotated[str, typer.Option(help="lite, server, or both.")] = "both",
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per batch.")] = 1000,
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
    from functools import partial

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
