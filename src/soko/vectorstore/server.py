"""Run a real Milvus standalone server (PyPI package `milvus`, 2.3.5) on loopback.

Tests and benchmarks use this instead of any stand-in. Each server gets its own data folder
and free ports (the embedded etcd's peer port included: the package hard-codes 2380, so two
servers on one machine would collide without the etcd config written here). The child dies
with its parent (PR_SET_PDEATHSIG) and `stop()` sends SIGTERM, then SIGKILL.

Milvus 2.3.5 has no listen-address setting: its gRPC ports bind every interface. The ports
are random, every component advertises 127.0.0.1, and clients connect to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from types import TracebackType

from soko.errors import VectorStoreUnavailable

log = logging.getLogger(__name__)

_COMPONENTS = (
    "rootCoord",
    "proxy",
    "queryCoord",
    "queryNode",
    "indexCoord",
    "indexNode",
    "dataCoord",
    "dataNode",
)
_PR_SET_PDEATHSIG = 1


def server_supported() -> tuple[bool, str]:
    """Whether the `milvus` package can run a server here, and why not if it cannot."""
    if sys.platform != "linux" or platform.machine() not in {"x86_64", "AMD64"}:
        return False, (
            f"the PyPI `milvus` server build runs on Linux x86_64 only "
            f"(this is {sys.platform} {platform.machine()})"
        )
    try:
        import milvus  # noqa: F401
    except ImportError:
        return (
            False,
            "the PyPI package `milvus` is not installed (pip install 'soko-search[server]')",
        )
    return True, ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


#: dataCoord.gc settings (seconds): how often garbage collection runs and how long files of
#: dropped or compacted-away segments are kept. (Not missingTolerance: files without
#: metadata may belong to a flush in progress.)
_GC_KEYS = frozenset({"interval", "dropTolerance"})


def configure_milvus_yaml(
    text: str,
    etcd_client_port: int,
    etcd_yaml: Path,
    gc_after_s: int | None,
    session_ttl_s: int | None = None,
) -> str:
    """The package's milvus.yaml pointed at our embedded etcd, with `gc_after_s` and
    `session_ttl_s` (common.session.ttl) if given."""
    lines = []
    section = subsection = ""
    for line in text.splitlines():
        if line and not line[0].isspace():
            section, subsection = line, ""
        elif line.startswith("  ") and line[2:3].isalpha():
            subsection = line.strip()
        if line.startswith("  endpoints: localhost:"):
            line = f"  endpoints: 127.0.0.1:{etcd_client_port}"
        if gc_after_s is not None and (section, subsection) == ("dataCoord:", "gc:"):
            key = line.split(":")[0].strip()
            if key in _GC_KEYS:
                line = f"    {key}: {gc_after_s}"
        in_session = (section, subsection) == ("common:", "session:")
        if session_ttl_s is not None and in_session and line.split(":")[0].strip() == "ttl":
            line = f"    ttl: {session_ttl_s}"
        lines.append(line)
        if line == "etcd:":
            lines.append(f"  config:\n    path: {etcd_yaml}")
    return "\n".join(lines) + "\n"


class LocalMilvusServer:
    """One Milvus standalone process, its data under `data_dir`, on `port` (else a free one).

    `start()` again after the process died (or `stop()`) restarts it on the same data and
    the same port, so clients configured with its address find it again.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        startup_timeout_s: float = 180.0,
        gc_after_s: int | None = None,
        session_ttl_s: int | None = None,
    ) -> None:
        """`gc_after_s`: delete the files of compacted-away or dropped segments after this
        many seconds instead of Milvus's 1-3 hours (benchmarks measuring disk use).
        `session_ttl_s`: Milvus's component session lease (30 s). After a SIGKILL a restart
        waits for the dead process's leases to expire, about twice this (measured: 55 s at
        30 s); the outage test shortens it."""
        self.data_dir = Path(data_dir).resolve()
        self.startup_timeout_s = startup_timeout_s
        self.gc_after_s = gc_after_s
        self.session_ttl_s = session_ttl_s
        self.port = port or 0
        self.metrics_port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def uri(self) -> str:
        return f"http://{self.address}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def exit_code(self) -> int | None:
        """The process's exit status once it has exited (reaping it), else None."""
        return self._proc.poll() if self._proc else None

    def start(self) -> LocalMilvusServer:
        ok, why = server_supported()
        if not ok:
            raise VectorStoreUnavailable(why)
        self.stop()  # a previous process (perhaps killed): stopped and reaped first
        import milvus

        config = milvus.MilvusServerConfig(data_dir=str(self.data_dir))
        if not self.port:
            self.port = free_port()
        config.set("proxy_port", self.port)
        for component in _COMPONENTS:
            config.set(f"{component}.ip", "127.0.0.1")
        with warnings.catch_warnings():
            # The package probes ports with sockets it never closes; collect them here.
            warnings.simplefilter("ignore", ResourceWarning)
            config.resolve()
            gc.collect()
        milvus._initialize_data_files(config.base_data_dir)
        self._write_etcd_config()
        self.metrics_port = free_port()
        env = dict(os.environ)
        bin_dir = str(self.data_dir / "bin")
        env.update(
            DEPLOY_MODE="STANDALONE",
            METRICS_PORT=str(self.metrics_port),
            MILVUS_RUN_DIR=str(self.data_dir / "run"),
            LD_LIBRARY_PATH=bin_dir + ":" + env.get("LD_LIBRARY_PATH", ""),
        )
        logs = self.data_dir / "logs"
        with (
            open(logs / "milvus-stdout.log", "wb") as out,
            open(logs / "milvus-stderr.log", "wb") as err,
        ):
            self._proc = subprocess.Popen(
                [str(self.data_dir / "bin" / "milvus"), "run", "standalone"],
                cwd=self.data_dir,
                env=env,
                stdout=out,
                stderr=err,
                preexec_fn=_die_with_parent,
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        log.info("milvus server pid %s listening on %s", self._proc.pid, self.address)
        return self

    def _write_etcd_config(self) -> None:
        """Give the embedded etcd its own client and peer ports, the same at every start on
        this data folder (its data records the peer address)."""
        ports_file = self.data_dir / "soko-etcd-ports.json"
        if ports_file.exists():
            ports = json.loads(ports_file.read_text())
            client_port, peer_port = int(ports["client"]), int(ports["peer"])
        else:
            client_port, peer_port = free_port(), free_port()
            ports_file.write_text(json.dumps({"client": client_port, "peer": peer_port}))
        etcd_yaml = self.data_dir / "configs" / "embedEtcd.yaml"
        client = f"http://127.0.0.1:{client_port}"
        peer = f"http://127.0.0.1:{peer_port}"
        etcd_yaml.write_text(
            "name: soko\n"
            f"data-dir: {self.data_dir / 'data' / 'etcd.data'}\n"
            f"listen-client-urls: {client}\n"
            f"advertise-client-urls: {client}\n"
            f"listen-peer-urls: {peer}\n"
            f"initial-advertise-peer-urls: {peer}\n"
            f"initial-cluster: soko={peer}\n"
            "initial-cluster-state: new\n"
        )
        milvus_yaml = self.data_dir / "configs" / "milvus.yaml"
        milvus_yaml.write_text(
            configure_milvus_yaml(
                milvus_yaml.read_text(),
                client_port,
                etcd_yaml,
                self.gc_after_s,
                self.session_ttl_s,
            )
        )

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"http://127.0.0.1:{self.metrics_port}/healthz"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise VectorStoreUnavailable(
                    f"milvus server exited during start-up; see {self.data_dir / 'logs'}"
                )
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(url, timeout=2) as response,
            ):
                if b"OK" in response.read():
                    return
            time.sleep(0.2)
        raise VectorStoreUnavailable(
            f"milvus server not healthy after {self.startup_timeout_s:.0f}s; "
            f"see {self.data_dir / 'logs'}"
        )

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM, wait up to `grace_s`, then SIGKILL.

        Milvus 2.3.5 standalone often hangs in its graceful shutdown once a collection is
        loaded (measured: still running 120 s after SIGTERM), so the grace is short.
        """
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            log.info(
                "milvus server pid %s still running %.0fs after SIGTERM; SIGKILL", proc.pid, grace_s
            )
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> LocalMilvusServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
