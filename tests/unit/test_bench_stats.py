"""Recall, percentile and ratio arithmetic, and the results file schema."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from soko_bench.loadgen import run_latency, run_throughput
from soko_bench.results import (
    SCHEMA,
    DatasetInfo,
    Point,
    Results,
    Run,
    Throughput,
    describe_machine,
)
from soko_bench.search_bench import add_faiss_ratios, size_label
from soko_bench.stats import Latency, percentile, ratio, recall_at_k


def test_recall_counts_overlap_per_query() -> None:
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = [np.array([4, 3, 9, 1]), np.array([5])]
    # query 1: 3 of 4; query 2: 1 of 4 (short answers count as misses)
    assert recall_at_k(found, truth, 4) == pytest.approx(0.5)
    assert recall_at_k([truth[0], truth[1]], truth, 4) == 1.0
    assert recall_at_k([np.array([1, 9]), np.array([5, 9])], truth, 2) == 0.5


def test_recall_refuses_mismatched_inputs() -> None:
    truth = np.array([[1, 2]])
    with pytest.raises(ValueError, match="result lists"):
        recall_at_k([], truth, 2)
    with pytest.raises(ValueError, match="neighbours"):
        recall_at_k([np.array([1])], truth, 3)


def test_percentiles_interpolate_like_numpy_linear() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == 25.0
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    with pytest.raises(ValueError):  # noqa: PT011
        percentile([], 50)


@given(st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=1, max_size=200))
def test_latency_summary_is_ordered_and_in_ms(samples: list[float]) -> None:
    summary = Latency.of_seconds(samples)
    assert summary.count == len(samples)
    assert summary.p50_ms <= summary.p95_ms <= summary.p99_ms <= summary.max_ms + 1e-9
    assert summary.max_ms == pytest.approx(max(samples) * 1000)


def test_ratio() -> None:
    assert ratio(30.0, 20.0) == 1.5
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 2.0) is None
    assert ratio(2.0, None) is None


def test_size_label() -> None:
    assert size_label(100_000) == "100k"
    assert size_label(1_000_000) == "1m"
    assert size_label(12_345) == "12345"


def test_latency_run_stops_after_time_budget_with_minimum() -> None:
    queries = np.zeros((50, 4), dtype=np.float32)
    run = run_latency(
        lambda q: np.arange(3, dtype=np.int64), queries, max_seconds=0.0, min_queries=7
    )
    assert len(run.results) == 7
    full = run_latency(lambda q: np.arange(3), queries, max_seconds=60, min_queries=7)
    assert len(full.results) == 50


def test_throughput_run_uses_every_client_and_counts_errors() -> None:
    seen: set[int] = set()

    def search(i: int) -> None:
        seen.add(i)
        if i == 0:
            raise RuntimeError("boom")

    run = run_throughput(search, 8, clients=4, seconds=0.2)
    assert run.clients == 4
    assert run.requests > 8
    assert run.errors >= 1
    assert seen == set(range(8))  # each client starts from its own offset


def _point(param: int, p50: float, recall: float = 1.0) -> Point:
    latency = Latency(count=10, p50_ms=p50, p95_ms=p50, p99_ms=2 * p50, mean_ms=p50, max_ms=p50)
    return Point(
        param_name="nprobe",
        param=param,
        recall_at_k=recall,
        queries=10,
        latency=latency,
        throughput=[Throughput(clients=1, qps=1000 / p50, requests=10, errors=0, latency=latency)],
    )


def _results(runs: list[Run]) -> Results:
    return Results(
        created_at="2026-01-01T00:00:00+00:00",
        command="soko-bench search --n 10",
        wall_s=1.0,
        machine=describe_machine(),
        dataset=DatasetInfo(
            n=10,
            queries=2,
            dim=4,
            clusters=2,
            categories=1,
            spread=0.5,
            cluster_spread=1.0,
            seed=0,
            k=2,
            generate_s=0.1,
            ground_truth_s=0.1,
        ),
        runs=runs,
    )


def test_ratios_to_faiss_at_the_same_nprobe() -> None:
    faiss = Run(
        backend="faiss",
        index="IVF_FLAT",
        build_params={},
        threads="1",
        points=[_point(8, 2.0), _point(16, 4.0)],
    )
    server = Run(
        backend="server",
        index="IVF_FLAT",
        build_params={},
        threads="-",
        points=[_point(8, 3.0, 0.9), _point(32, 5.0)],
    )
    hnsw = Run(backend="server", index="HNSW", build_params={}, threads="-", points=[_point(16, 1)])
    add_faiss_ratios([faiss, server, hnsw])
    first = server.points[0].to_faiss
    assert first is not None
    assert first.p50 == pytest.approx(1.5)
    assert first.qps_1 == pytest.approx(2 / 3)
    assert first.recall == pytest.approx(0.9)
    assert server.points[1].to_faiss is None  # FAISS has no nprobe 32 here
    assert hnsw.points[0].to_faiss is None  # ef is not nprobe


def test_results_json_round_trips_through_the_schema() -> None:
    run = Run(
        backend="faiss",
        index="IVF_FLAT",
        build_params={"nlist": 4},
        threads="1",
        points=[_point(8, 2.0)],
    )
    text = _results([run]).model_dump_json(by_alias=True)
    doc = json.loads(text)
    assert doc["schema"] == SCHEMA
    assert {"machine", "dataset", "runs", "wall_s", "command"} <= doc.keys()
    assert doc["machine"]["cores"] >= 1
    assert doc["runs"][0]["points"][0]["latency"]["p99_ms"] == 4.0
    assert Results.model_validate_json(text) == _results([run])
    del doc["runs"][0]["points"][0]["recall_at_k"]
    with pytest.raises(ValueError, match="recall_at_k"):
        Results.model_validate(doc)
