"""The `soko` command: its Typer apps, the error-to-exit-code table, shared helpers.

Output goes to stdout; errors are one line on stderr. Every `SokoError` maps to one exit code
in `EXIT_CODES`; nothing prints a traceback. Commands live in the sibling modules by concept.
"""

from __future__ import annotations

import signal
import sys
import threading

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


bench_app = typer.Typer(help="Measure speed on this machine (JSON under bench/results/).")


app.add_typer(bench_app, name="bench")


out = Console(highlight=False, soft_wrap=True)


err = Console(stderr=True, highlight=False)


def exit_code_for(exc: SokoError) -> int:
    return next(code for cls, code in EXIT_CODES if isinstance(exc, cls))


def settings_from_env() -> Settings:
    """Settings for a CLI command, with logging configured from them."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _int_list(value: str, option: str) -> tuple[int, ...]:
    try:
        items = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise InvalidInput(f"{option}: expected comma-separated integers, got {value!r}") from None
    if not items or any(i < 1 for i in items):
        raise InvalidInput(f"{option}: expected positive integers, got {value!r}")
    return items


def _stop_on_sigterm() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def main() -> None:
    try:
        app()
    except SokoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
