"""The catalog pipeline: demo, import, hydrate, ingest, sync, reconcile."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from soko.cli.app import (
    _progress,
    _stop_on_sigterm,
    app,
    out,
    settings_from_env,
)
from soko.config import Settings
from soko.errors import (
    InvalidInput,
)

#: Rejected rows printed by `soko import` before it only counts the rest.
SHOWN_PROBLEMS = 50


BatchSizeOption = Annotated[
    int | None,
    typer.Option(min=1, max=100_000, help="Rows per Milvus write (SOKO_INGEST_BATCH_SIZE)."),
]
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
    batch_size: BatchSizeOption = None,
    in_flight: InFlightOption = None,
) -> None:
    """Write pending catalog rows (new, changed, deleted) to Milvus and mark them written."""
    _run_ingest(settings_from_env(), batch_size, follow, in_flight)


@app.command()
def sync(
    follow: Annotated[
        bool,
        typer.Option("--follow", help="Keep running: hydrate and ingest changes as they come."),
    ] = False,
    batch_size: BatchSizeOption = None,
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
