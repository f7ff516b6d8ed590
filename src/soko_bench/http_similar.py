"""End-to-end HTTP latency of `GET {base}/api/products/similar/{id}?limit=10`.

The hook for measuring the API on top of the vector store: real HTTP requests over keep-alive
connections (httpx, one client per load thread), closed loop, at several concurrency levels.
An answer counts as an error unless it is a 200 with a JSON array.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import httpx
from pydantic import BaseModel

from soko_bench.loadgen import run_throughput
from soko_bench.results import Throughput


class HttpSimilarRun(BaseModel):
    base_url: str
    limit: int
    product_ids: int
    results: list[Throughput]


def measure_similar_http(
    base_url: str,
    product_ids: Sequence[int],
    *,
    clients: Sequence[int] = (1, 4, 16),
    duration_s: float = 5.0,
    limit: int = 10,
    timeout_s: float = 10.0,
    warmup: int = 20,
) -> HttpSimilarRun:
    """Latency and throughput of the similar-products route at each concurrency level."""
    if not product_ids:
        raise ValueError("need at least one product id")
    base = base_url.rstrip("/")
    local = threading.local()
    clients_made: list[httpx.Client] = []
    lock = threading.Lock()

    def client() -> httpx.Client:
        http: httpx.Client | None = getattr(local, "client", None)
        if http is None:
            http = httpx.Client(timeout=timeout_s)
            local.client = http
            with lock:
                clients_made.append(http)
        return http

    def request(i: int) -> None:
        pid = product_ids[i % len(product_ids)]
        response = client().get(f"{base}/api/products/similar/{pid}", params={"limit": limit})
        if response.status_code != 200 or not isinstance(response.json(), list):
            raise RuntimeError(f"GET similar/{pid}: HTTP {response.status_code}")

    try:
        for i in range(min(warmup, len(product_ids))):
            request(i)
        results = []
        for n in clients:
            run = run_throughput(request, len(product_ids), clients=n, seconds=duration_s)
            results.append(
                Throughput(
                    clients=n,
                    qps=run.qps,
                    requests=run.requests,
                    errors=run.errors,
                    latency=run.latency,
                )
            )
    finally:
        for http in clients_made:
            http.close()
    return HttpSimilarRun(base_url=base, limit=limit, product_ids=len(product_ids), results=results)
