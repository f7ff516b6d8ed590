"""The catalog pipeline: import, hydrate, ingest, sync, reconcile; duplicate listings."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from soko.cli.app import Bars, app, application, out, progress_bars, stop_on_sigterm
from soko.errors import InvalidInput

if TYPE_CHECKING:
    from soko.app import Soko
    from soko.app.hydrate import HydrateStats
    from soko.app.ingest import BatchResult, IngestStats
    from soko.catalog import ImportReport

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


@app.command("import")
def import_catalog(
    file: Annotated[Path, typer.Argument(help="A .csv or .jsonl catalog file.")],
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: from the extension).")
    ] = None,
) -> None:
    """Validate and upsert a catalog file; bad rows are reported with their line and skipped.

    Columns: product_id, name, description, category, price, seller_id, and image_url or
    image_path (relative paths are relative to the file; it must be inside SOKO_MEDIA_ROOT,
    by default the file's folder). Exit 1 if any row was rejected.
    """
    with application() as soko:
        _import(soko, file, file_format)


def _import(soko: Soko, file: Path, file_format: str | None = None) -> None:
    with progress_bars() as bars:
        report = soko.import_file(file, fmt=file_format, progress=Bars(bars))
    _print_import(file, report)


def _print_import(file: Path, report: ImportReport) -> None:
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


def _hydrate(soko: Soko, limit: int | None) -> None:
    with soko.hydrator() as hydrator, progress_bars() as bars:
        due = hydrator.due_count()
        task = bars.add_task("hydrating", total=min(due, limit) if limit else due)
        stats = hydrator.run(limit=limit, on_chunk=lambda n: bars.advance(task, n))
    _print_hydrate(stats)


def _print_hydrate(stats: HydrateStats) -> None:
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
    with application() as soko:
        _hydrate(soko, limit)


def _ingest(soko: Soko, batch_size: int | None, follow: bool, in_flight: int | None = None) -> None:
    stop = stop_on_sigterm()
    worker = soko.ingest_worker(batch_size=batch_size, in_flight=in_flight)
    with progress_bars() as bars:
        task = bars.add_task("ingesting", total=None if follow else soko.pending_count())

        def on_batch(batch: BatchResult) -> None:
            bars.advance(task, batch.claimed)

        try:
            if follow:
                soko.follow_ingest(worker, stop, on_batch=on_batch)
            else:
                worker.run(stop=stop, on_batch=on_batch)
        except KeyboardInterrupt:
            stop.set()
    _print_ingest(worker.stats)


def _print_ingest(stats: IngestStats) -> None:
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
    with application() as soko:
        _ingest(soko, batch_size, follow, in_flight)


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
    with application() as soko:
        _hydrate(soko, None)
        _ingest(soko, batch_size, follow=False, in_flight=in_flight)
        if follow:
            stop = stop_on_sigterm()
            out.print("following the catalog (Ctrl+C to stop)")
            with soko.sync_worker(batch_size=batch_size, in_flight=in_flight) as worker:
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
    with application() as soko:
        with out.status("comparing..."):
            report = soko.reconcile(dry_run=dry_run)
        if report is None:
            out.print("reconcile: the catalog holds no vectors yet; nothing to compare")
            return
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
            _ingest(soko, None, follow=False)


@app.command()
def duplicates(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of lines.")] = False,
) -> None:
    """The catalog's likely duplicate listings (the same photo), for moderators: each product
    against its nearest products by photo; products without a photo are skipped."""
    with application() as soko, progress_bars() as bars:
        pairs = list(soko.duplicates.catalog_pairs(progress=Bars(bars)))
    if as_json:
        out.print_json(json.dumps([asdict(p) for p in pairs]))
        return
    for p in pairs:
        seller = "same seller" if p.same_seller else "different sellers"
        out.print(
            f"{p.first} ~ {p.second}  score {p.score:.3f}  {seller}: {p.reason}", markup=False
        )
    out.print(f"{len(pairs)} likely duplicate pairs")
