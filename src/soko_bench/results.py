"""The results file `bench/results/*.json`: its schema (pydantic models) and the machine.

One file per run. A `Run` is one backend and index (Milvus Lite, Milvus server, FAISS,
numpy exact); a `Point` is one search parameter value (nprobe, or ef for HNSW) on it.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, Field

from soko_bench.stats import Latency

SCHEMA = "soko.bench.search/1"


class Throughput(BaseModel):
    clients: int
    qps: float
    requests: int
    errors: int
    latency: Latency


class Ratios(BaseModel):
    """This point's figures divided by FAISS IVF_FLAT's at the same nprobe."""

    p50: float | None = None
    p99: float | None = None
    qps_1: float | None = None
    recall: float | None = None


class Point(BaseModel):
    param_name: str
    param: int
    recall_at_k: float
    queries: int
    latency: Latency
    throughput: list[Throughput]
    to_faiss: Ratios | None = None


class Load(BaseModel):
    """Writing the base through the write path (`write_batches`), until searchable."""

    rows: int
    batch_size: int
    writers: int
    mode: str = Field(description="insert_new (fresh ids) or upsert")
    collection_loaded_during_writes: bool
    write_s: float
    request_build_s: float = Field(description="client time building requests, summed")
    rpc_s: float = Field(description="time inside Milvus calls, summed over writers")
    server_cpu_s: float | None = None
    client_cpu_s: float | None = None
    searchable_s: float = Field(description="first write until every row is visible")
    rows_per_s: float = Field(description="rows / searchable_s")


class Settle(BaseModel):
    """Waiting until the index is built and compaction has settled, before measuring."""

    flush_s: float
    index_s: float
    segments_stable_s: float
    quiet_s: float
    total_s: float
    segments: int
    probe_p99_ms: list[float]


class Disk(BaseModel):
    bytes: int
    bytes_per_million_vectors: float
    data_bytes_per_million_vectors: float = Field(
        description="the collection itself: segments and index, without WAL and metadata"
    )
    breakdown: dict[str, int]


class Memory(BaseModel):
    rss_bytes: int
    of: str = Field(description="which process: the Milvus server, or the process running Lite")


class Run(BaseModel):
    backend: str = Field(description="lite, server, faiss or numpy")
    index: str
    build_params: dict[str, int | float | str]
    threads: str
    build_s: float | None = Field(None, description="index build (FAISS: train + add)")
    load: Load | None = None
    settle: Settle | None = None
    disk: Disk | None = None
    memory: Memory | None = None
    points: list[Point]
    notes: list[str] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.backend} {self.index}"


class DatasetInfo(BaseModel):
    n: int
    queries: int
    dim: int
    clusters: int
    categories: int
    spread: float
    cluster_spread: float
    seed: int
    k: int
    generate_s: float
    ground_truth_s: float


class Machine(BaseModel):
    cpu: str
    cores: int
    memory_bytes: int
    os: str
    python: str
    packages: dict[str, str]
    load_average_at_start: list[float]


class Results(BaseModel):
    schema_: str = Field(SCHEMA, alias="schema")
    created_at: str
    command: str
    wall_s: float
    machine: Machine
    dataset: DatasetInfo
    runs: list[Run]

    model_config = {"populate_by_name": True}


_PACKAGES = ("numpy", "faiss-cpu", "pymilvus", "milvus", "milvus-lite", "soko-search")


def describe_machine() -> Machine:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    return Machine(
        cpu=cpu,
        cores=os.cpu_count() or 1,
        memory_bytes=memory,
        os=f"{platform.system()} {platform.release()}",
        python=sys.version.split()[0],
        packages=packages,
        load_average_at_start=list(os.getloadavg()),
    )
