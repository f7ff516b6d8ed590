"""Closed-loop query drivers: one client for latency, N concurrent clients for throughput.

Every client sends its next query as soon as the previous answer arrives (closed loop), so
throughput at N clients is what N busy callers get, and latency is measured per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from soko_bench.stats import Latency

SearchFn = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.int64]]


@dataclass(frozen=True)
class LatencyRun:
    """One client, queries in order: per-query latency and the ids each query returned."""

    latencies_s: npt.NDArray[np.float64]
    results: list[npt.NDArray[np.int64]]
    seconds: float

    @property
    def qps(self) -> float:
        return len(self.results) / self.seconds if self.seconds > 0 else 0.0


def run_latency(
    search: SearchFn,
    queries: npt.NDArray[np.float32],
    *,
    max_seconds: float,
    min_queries: int,
) -> LatencyRun:
    """Run the queries one at a time, in order; stop early after `max_seconds` once at least
    `min_queries` have run (slow backends at 1M), so recall is over a prefix of the queries."""
    latencies: list[float] = []
    results: list[npt.NDArray[np.int64]] = []
    started = time.perf_counter()
    deadline = started + max_seconds
    for query in queries:
        t0 = time.perf_counter()
        results.append(search(query))
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        if t1 > deadline and len(results) >= min_queries:
            break
    return LatencyRun(
        np.asarray(latencies, dtype=np.float64), results, time.perf_counter() - started
    )


@dataclass(frozen=True)
class ThroughputRun:
    clients: int
    requests: int
    seconds: float
    latency: Latency
    errors: int

    @property
    def qps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def run_throughput(
    search: Callable[[int], object],
    items: int,
    *,
    clients: int,
    seconds: float,
) -> ThroughputRun:
    """`clients` threads each call `search(i)` over items 0..items-1 (each from its own
    offset) until `seconds` have passed. Errors are counted, not raised, so one timeout does
    not lose the run; a run with errors says so in its figures."""
    if clients < 1 or items < 1:
        raise ValueError("need at least one client and one item")
    barrier = threading.Barrier(clients + 1)
    stop_at = [0.0]
    samples: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients

    def client(slot: int) -> None:
        i = (slot * items) // clients
        barrier.wait()
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at[0]:
                return
            try:
                search(i % items)
            except Exception:  # counted and reported: a load test must not die on one error
                errors[slot] += 1
            samples[slot].append(time.perf_counter() - t0)
            i += 1

    threads = [
        threading.Thread(target=client, args=(slot,), name=f"bench-client-{slot}", daemon=True)
        for slot in range(clients)
    ]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    stop_at[0] = started + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    flat = [s for per_client in samples for s in per_client]
    return ThroughputRun(
        clients=clients,
        requests=len(flat),
        seconds=elapsed,
        latency=Latency.of_seconds(flat or [0.0]),
        errors=sum(errors),
    )
