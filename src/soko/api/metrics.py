"""Prometheus metrics for one app instance (its own registry, so tests can build many apps)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

#: Search latency buckets in seconds: the target is tens of milliseconds.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "soko_http_request_duration_seconds",
            "HTTP request latency by route template, method and status class.",
            ("route", "method", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.search_seconds = Histogram(
            "soko_search_duration_seconds",
            "Time inside the search service (embedding + Milvus) by kind of search.",
            ("kind",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.milvus_errors = Counter(
            "soko_milvus_errors_total",
            "Milvus failures seen by the API, by kind (unavailable or error).",
            ("kind",),
            registry=self.registry,
        )
        self.ingest_lag = Gauge(
            "soko_ingest_pending_rows",
            "Catalog rows whose vector is not yet in Milvus (new, changed or deleted).",
            registry=self.registry,
        )

    def track_ingest_lag(self, pending_rows: Callable[[], int]) -> None:
        """Compute ingest lag at scrape time rather than on a timer."""
        self.ingest_lag.set_function(lambda: float(pending_rows()))


class ObserveRequests:
    """ASGI middleware: one latency observation and one INFO log line per request.

    Pure ASGI rather than `@app.middleware("http")`, whose response streaming costs about a
    millisecond per request on this machine: a tenth of a search.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The router writes the matched route into the shared scope.
            template = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            self.metrics.request_seconds.labels(
                template, scope["method"], f"{status // 100}xx"
            ).observe(elapsed)
            log.info("%s %s %d %.1fms", scope["method"], template, status, elapsed * 1000)
