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
