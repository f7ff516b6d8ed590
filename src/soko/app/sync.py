"""Sync = hydrate, then ingest; and `follow`, the one loop that repeats a round forever.

`soko sync --follow`, `soko ingest --follow` and the background thread of `soko serve` run
`follow`. A failure is logged with its cause, recorded in the status (for /health), and
retried after a pause: the loop never dies silently and never stops on a transient Milvus
or database outage.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from soko.app.hydrate import Hydrator
from soko.app.ingest import BatchResult, IngestWorker
from soko.catalog import utcnow
from soko.errors import SokoError

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

    @property
    def failing(self) -> bool:
        """The last round failed: nothing is embedded or written until one succeeds."""
        return self.state in {"failing", "retrying"}


def follow(
    round_: Callable[[], None],
    stop: threading.Event,
    *,
    poll_s: float,
    status: SyncStatus,
    keep_going: bool = True,
) -> None:
    """Run `round_` until `stop` is set, `poll_s` apart, retrying failures after a pause.

    Retriable failures (Milvus or the database unreachable) are always retried. Others are
    retried too when `keep_going` (a server keeps serving; /health shows the failure), and
    raised otherwise (a command-line worker stops with the error).
    """
    while not stop.is_set():
        try:
            round_()
            status.rounds += 1
            status.state = "running"
        except SokoError as exc:
            if not (exc.retriable or keep_going):
                raise
            _failed(status, exc, retriable=exc.retriable)
            stop.wait(RETRY_PAUSE_S)
            continue
        except Exception as exc:
            if not keep_going:
                raise
            log.exception("sync round failed unexpectedly")
            _failed(status, exc, retriable=False)
            stop.wait(RETRY_PAUSE_S)
            continue
        stop.wait(poll_s)
    status.state = "stopped"


def _failed(status: SyncStatus, exc: BaseException, *, retriable: bool) -> None:
    status.state = "retrying" if retriable else "failing"
    status.last_error = f"{type(exc).__name__}: {exc}"
    status.last_error_at = utcnow()
    log.error("sync failed, retrying in %.0fs: %s", RETRY_PAUSE_S, exc)


class SyncWorker:
    """Hydrate, then ingest, once (`run_once`) or until stopped (`follow`)."""

    def __init__(self, hydrator: Hydrator, ingester: IngestWorker, *, poll_s: float) -> None:
        self.hydrator = hydrator
        self.ingester = ingester
        self.poll_s = poll_s
        self.status = SyncStatus()

    def close(self) -> None:
        self.hydrator.close()

    def __enter__(self) -> SyncWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_once(
        self,
        stop: threading.Event | None = None,
        *,
        on_hydrated: Callable[[int], None] | None = None,
        on_ingested: Callable[[BatchResult], None] | None = None,
    ) -> None:
        hydrated = self.hydrator.run(on_chunk=on_hydrated)
        ingested = self.ingester.run(stop=stop, on_batch=on_ingested)
        self.status.embedded += hydrated.stored
        self.status.written = ingested.marked

    def follow(self, stop: threading.Event) -> None:
        """Hydrate and ingest until `stop` is set, polling for new changes."""
        follow(lambda: self.run_once(stop), stop, poll_s=self.poll_s, status=self.status)
