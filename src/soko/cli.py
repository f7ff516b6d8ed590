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
    out.print("next: re-ingest every product from the catalog")


def main() -> None:
    try:
        app()
    except SokoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
