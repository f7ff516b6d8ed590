"""Operations: health, serving, the vector index and collection, a local Milvus server."""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from soko.cli.app import app, application, index_app, out, settings_from_env
from soko.errors import SokoError


@app.command()
def health(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Check Milvus: vector count, collection, index and status; list failing products. Exit 3
    if Milvus is unreachable."""
    with application() as soko:
        report = soko.health()
    stats = report.milvus
    if isinstance(stats, SokoError):
        raise stats
    space = report.space
    failures = report.failures
    if as_json:
        if isinstance(space, SokoError):
            raise space
        body = {**asdict(stats), "running_embedder": space}
        if failures is not None:
            body["failing_products"] = asdict(failures)
        out.print_json(json.dumps(body, default=str))
        return
    out.print(f"status: {stats.status}")
    out.print(f"collection: {stats.collection}")
    out.print(f"vectors: {stats.row_count}")
    out.print(f"backend: {stats.backend} ({stats.server_version}) at {stats.location}")
    if stats.index_type:
        out.print(
            f"index: {stats.index_type} ({stats.index_state}, {stats.indexed_rows} indexed, "
            f"{stats.pending_index_rows} pending)"
        )
    out.print(f"collection embedder: {stats.embedder or '-'}")
    if failures is not None:
        out.print(f"failing products: {failures.count}")
        for failure in failures.examples:
            when = (
                f"retry at {failure.next_attempt_at:%Y-%m-%d %H:%M}"
                if failure.next_attempt_at
                else "final until it changes"
            )
            out.print(f"  product {failure.product_id}: {failure.error} ({when})", markup=False)
    if isinstance(space, SokoError):
        out.print(f"embedder: unavailable ({space})")
        raise typer.Exit(1)
    out.print(f"embedder: {space}")
    if stats.embedder is not None and stats.embedder != space:
        out.print(
            "embedder mismatch: the collection holds vectors of another embedder or other "
            "fusion weights; run `soko reindex` to rebuild it with the running one"
        )


@index_app.command("rebuild")
def index_rebuild(
    nlist: Annotated[
        int | None, typer.Option(min=1, max=65536, help="New nlist (IVF indexes).")
    ] = None,
) -> None:
    """Drop and re-create the vector index, wait until it is built, and reload."""
    with application() as soko, out.status("rebuilding index..."):
        info = soko.rebuild_index(nlist=nlist)
    out.print(f"index rebuilt: {info.get('index_type')} {info['params']}")


#: Milvus's own default port: an API configured with MILVUS_ADDRESS=host:19530 finds the
#: server again after it restarts.
MILVUS_DEFAULT_PORT = 19530


@app.command("milvus-server")
def milvus_server(
    data: Annotated[Path, typer.Option(help="Data folder of the server.")] = Path(
        "./data/milvus-server"
    ),
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="gRPC port (the same at every start).")
    ] = MILVUS_DEFAULT_PORT,
) -> None:
    """Run a local Milvus standalone server (PyPI `milvus`) in the foreground until Ctrl+C.

    Exits with status 1 if Milvus itself dies, so that a supervisor restarts it (on the same
    port and data).
    """
    from soko.vectorstore import LocalMilvusServer

    settings_from_env()
    server = LocalMilvusServer(data, port=port)
    with out.status("starting milvus server..."):
        server.start()
    out.print(f"Milvus server pid {server.pid} ready: MILVUS_ADDRESS={server.address}")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    died: int | None = None
    try:
        while not stopped.wait(0.5):
            died = server.exit_code()
            if died is not None:
                break
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    if died is not None:
        typer.echo(
            f"error: the Milvus server exited (status {died}); see {server.data_dir / 'logs'}",
            err=True,
        )
        raise typer.Exit(1)


@app.command()
def reindex(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop the collection and re-create it empty for the running embedder and weights.

    Use after changing SOKO_EMBEDDER, SOKO_SIGLIP_MODEL or the fusion weights; then
    re-ingest from the catalog.
    """

    def confirm(question: str) -> None:
        if not yes:
            typer.confirm(question, abort=True, err=True)

    with application() as soko:
        result = soko.reindex(confirm=confirm)
    out.print(f"collection {result.collection!r} re-created for {result.space_id} (0 vectors)")
    out.print(
        f"catalog: {result.rehydrate} products to re-embed, {result.rewrite} to re-ingest; "
        "next: `soko sync` (hydrate + ingest)"
    )


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
