"""Recall, latency and throughput of one search target over a sweep of its search parameter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from soko_bench.loadgen import SearchFn, run_latency, run_throughput
from soko_bench.results import Point, Throughput
from soko_bench.stats import Latency, recall_at_k

#: Called with (what is being done, units done so far, units in all).
Report = Callable[[str, int, int], None]


@dataclass(frozen=True)
class MeasureOptions:
    params: Sequence[int] = (8, 16, 32, 64)
    clients: Sequence[int] = (1, 4, 16)
    #: Seconds of each concurrent-clients run.
    duration_s: float = 2.0
    #: A single-client run stops after this long once `min_queries` have run (keeps Milvus
    #: Lite at 1M, hundreds of ms a query, inside the hour; fast backends run every query).
    max_latency_s: float = 8.0
    min_queries: int = 100
    warmup: int = 30


def measure_points(
    param_name: str,
    set_param: Callable[[int], None],
    search: SearchFn,
    queries: npt.NDArray[np.float32],
    truth: npt.NDArray[np.int64],
    options: MeasureOptions,
    report: Report | None = None,
    *,
    params: Sequence[int] | None = None,
) -> list[Point]:
    """For each parameter value: warm up, one client over the queries in order (latency and
    recall), then each concurrency level for `duration_s` (throughput)."""
    k = truth.shape[1]
    points: list[Point] = []
    values = list(params if params is not None else options.params)
    for step, value in enumerate(values):
        if report is not None:
            report(f"{param_name}={value}", step, len(values))
        set_param(value)
        for query in queries[: options.warmup]:
            search(query)
        single = run_latency(
            search,
            queries,
            max_seconds=options.max_latency_s,
            min_queries=min(options.min_queries, len(queries)),
        )
        latency = Latency.of_seconds(single.latencies_s)
        throughput = []
        for clients in options.clients:
            if clients == 1:
                throughput.append(
                    Throughput(
                        clients=1,
                        qps=single.qps,
                        requests=len(single.results),
                        errors=0,
                        latency=latency,
                    )
                )
                continue
            run = run_throughput(
                lambda i: search(queries[i]),
                len(queries),
                clients=clients,
                seconds=options.duration_s,
            )
            throughput.append(
                Throughput(
                    clients=clients,
                    qps=run.qps,
                    requests=run.requests,
                    errors=run.errors,
                    latency=run.latency,
                )
            )
        n = len(single.results)
        points.append(
            Point(
                param_name=param_name,
                param=value,
                recall_at_k=recall_at_k(single.results, truth[:n], k),
                queries=n,
                latency=latency,
                throughput=throughput,
            )
        )
    if report is not None:
        report("done", len(values), len(values))
    return points
