"""Sync = hydrate, then ingest: bring Milvus up to date with the catalog, once or forever.

`soko sync --follow` and the background thread of `soko serve` run this loop. A failure is
logged with its cause, recorded for /health, and retried after a pause: the loop never dies
silently and never stops on a transient Milvus or database outage.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from soko.catalog import Catalog, utcnow
from soko.config import Settings
from soko.embedding import Embedder
from soko.errors import SokoError
from soko.hydrate import Hydrator
from soko.ingest import IngestWorker
from soko.vectorstore import VectorStore

log = logging.getLogger(__name__)

#: Pause after a failed round before trying again.
RETRY_PAUSE_S = 5.0


@dataclass
class SyncStatus:
    """What /health reports about the background sync."""

    state: str = "starting"
    rounds: int = 0
    embedded: int = 0
    written: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None


class SyncWorker:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        embedder: Embedder,
        *,
        store: VectorStore | None = None,
    ) -> None:
        self.settings = settings
        self.hydrator = Hydrator(settings, catalog, embedder)
        self.ingester = IngestWorker(settings, catalog, store=store)
        self.status = SyncStatus()

    def close(self) -> None:
        self.hydrator.close()
        self.ingester.close()

    def __enter__(self) -> SyncWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_once(self, stop: threading.Event | None = None) -> None:
        hydrated = self.hydrator.run()
        ingested = self.ingester.run(stop=stop)
        self.status.rounds += 1
        self.status.embedded += hydrated.stored
        self.status.written = ingested.marked

    def follow(self, stop: threading.Event) -> None:
        """Hydrate and ingest until `stop` is set, polling for new changes."""
        while not stop.is_set():
            try:
                self.run_once(stop)
                self.status.state = "running"
            except SokoError as exc:
                self._failed(exc, retriable=exc.retriable)
                stop.wait(RETRY_PAUSE_S)
                continue
            except Exception as exc:  # keep serving; the cause is logged and shown in /health
                log.exception("sync round failed unexpectedly")
                self._failed(exc, retriable=False)
                stop.wait(RETRY_PAUSE_S)
                continue
            stop.wait(self.settings.ingest_poll_s)
        self.status.state = "stopped"

    def _failed(self, exc: BaseException, *, retriable: bool) -> None:
        self.status.state = "retrying" if retriable else "failing"
        self.status.last_error = f"{type(exc).__name__}: {exc}"
        self.status.last_error_at = utcnow()
        log.error("sync failed, retrying in %.0fs: %s", RETRY_PAUSE_S, exc)
