"""`soko ...`: the command line (see `soko --help`)."""

from soko.cli import catalog, embedding, ops  # noqa: F401  (registers the commands)
from soko.cli.app import app, main

__all__ = ["app", "main"]
