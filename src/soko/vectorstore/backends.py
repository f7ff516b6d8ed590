"""Milvus Lite or a Milvus server: every difference between the two, chosen once at connect.

`backend_for(settings)` picks one from the address (a `.db` path is Lite), the way
qdrant-client picks its local or remote client; `VectorStore` asks its backend and nothing
above `vectorstore/` ever asks which one it is.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from collections import Counter
from pathlib import Path

from pymilvus import MilvusClient

from soko.config import Settings
from soko.errors import SokoError, VectorStoreLocked
from soko.vectorstore.errors import call_with_retry, fail_fast_on_unavailable

log = logging.getLogger(__name__)

#: On a server, a run that wrote at least this many rows is flushed at its end.
SERVER_FLUSH_ROWS = 50_000
#: Milvus < 2.3.10 files upserted rows under the wrong partition (milvus-io/milvus#30607).
FIRST_SAFE_UPSERT = (2, 3, 10)
#: One connection attempt's timeout: pymilvus also waits this long whenever it re-checks an
#: idle connection (holding its process-wide lock), so it must stay short; attempts repeat
#: until MILVUS_TIMEOUT.
CONNECT_ATTEMPT_S = 5.0
#: gRPC's reconnect backoff grows to 120 s by default: after a minute-long outage a channel
#: would wait that long before trying again. Capped, a channel is back within ~1 s of Milvus.
GRPC_OPTIONS = {
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.min_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 1000,
}


class Backend:
    """What differs between Milvus Lite and a server; see the two subclasses."""

    name: str
    #: Writers (each on its own connection) that may write at once, and the default.
    max_writers: int
    default_writers: int

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.uri = settings.milvus_uri

    @property
    def location(self) -> str:
        """Where the data is, for people: a file path or host:port."""
        raise NotImplementedError

    def connect(self) -> MilvusClient:
        """A new client; `release` must follow its `close`."""
        return self._client()

    def release(self) -> None:
        """Called after a client from `connect` was closed."""

    def flush_after(self, rows_written: int) -> bool:
        """Whether a run that wrote this many rows should end with a flush."""
        raise NotImplementedError

    def upsert_is_safe(self, server_version: str) -> bool:
        """Whether Milvus's upsert keeps rows in their partition (else: delete + insert)."""
        return not version_below(server_version, FIRST_SAFE_UPSERT)

    def _client(self) -> MilvusClient:
        settings = self.settings
        password = settings.milvus_password.get_secret_value() if settings.milvus_password else ""

        def connect(timeout: float) -> MilvusClient:
            client = MilvusClient(
                uri=self.uri,
                user=settings.milvus_username or "",
                password=password,
                db_name=settings.milvus_db_name,
                timeout=min(timeout, CONNECT_ATTEMPT_S),
                grpc_options=GRPC_OPTIONS,
            )
            # pymilvus shares one handler per address; its RPC-error hook is where it
            # would rebuild the channel under a process-wide lock (errors.py says why not).
            client._get_connection()._on_rpc_error = fail_fast_on_unavailable
            return client

        return call_with_retry("connect", connect, timeout_s=settings.milvus_timeout_s)


class ServerBackend(Backend):
    """Milvus standalone or a cluster, over gRPC."""

    name = "server"
    max_writers = 16
    # One writer leaves the 2.3.5 server idle between requests (docs/benchmarks.md).
    default_writers = 2

    @property
    def location(self) -> str:
        return self.settings.milvus_address

    def flush_after(self, rows_written: int) -> bool:
        # The server seals big segments itself; flushing after every small run would only
        # leave many small segments for compaction.
        return rows_written >= SERVER_FLUSH_ROWS


#: Open clients per Milvus Lite file in this process; the last one to close releases the
#: file (Milvus Lite otherwise keeps it locked until the process exits).
_lite_users: Counter[str] = Counter()
_lite_lock = threading.Lock()


class LiteBackend(Backend):
    """Milvus Lite: an embedded engine on a local file, one process per file."""

    name = "lite"
    # Lite runs inside this process: a second writer only adds contention.
    max_writers = 1
    default_writers = 1

    @property
    def location(self) -> str:
        return self.uri

    def connect(self) -> MilvusClient:
        Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            client = self._client()
        except SokoError:
            if _lite_file_locked(self.uri):
                raise VectorStoreLocked(_locked_message(self.uri)) from None
            raise
        with _lite_lock:
            _lite_users[self.uri] += 1
        return client

    def release(self) -> None:
        with _lite_lock:
            _lite_users[self.uri] -= 1
            if _lite_users[self.uri] > 0:
                return
            del _lite_users[self.uri]
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(self.uri)

    def flush_after(self, rows_written: int) -> bool:
        # Lite scans unflushed rows one by one on every search (docs/ingest.md): flush always.
        return rows_written > 0

    def upsert_is_safe(self, server_version: str) -> bool:
        return True


def backend_for(settings: Settings) -> Backend:
    return LiteBackend(settings) if settings.milvus_is_lite else ServerBackend(settings)


def version_below(version: str, floor: tuple[int, int, int]) -> bool:
    """`v2.3.5-lite` < (2, 3, 10)? Unparseable versions count as new."""
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", version.strip())
    if not match:
        return False
    return tuple(int(part) for part in match.groups()) < floor


def _lite_file_locked(path: str) -> bool:
    """Whether another process holds Milvus Lite's advisory lock on `path`."""
    lock_path = os.path.join(path, "LOCK")
    if not os.path.exists(lock_path):
        return False
    with open(lock_path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _locked_message(path: str) -> str:
    return (
        f"the Milvus Lite database {path} is open in another process; Milvus Lite allows one "
        "process per file. Stop that process (for example `soko serve`, which runs the ingest "
        "worker itself), or run a Milvus server and set MILVUS_ADDRESS=host:19530"
    )
