"""Prometheus metrics for one app instance (its own registry, so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
