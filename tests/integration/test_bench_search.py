"""One tiny end-to-end run of `soko-bench search` logic on Milvus Lite, FAISS and numpy."""

from __future__ import annotations

import json
from pathlib import Path

from cli import run_soko
from soko_bench.dataset import DatasetSpec
from soko_bench.measure import MeasureOptions
from soko_bench.milvus_run import SettleOptions
from soko_bench.results import Results
from soko_bench.search_bench import SearchBenchOptions, run_search_bench, write_results


def test_tiny_benchmark_on_lite_faiss_and_numpy(tmp_path: Path) -> None:
    spec = DatasetSpec(n=3000, queries=60, clusters=48, categories=4, spread=0.6, seed=3)
    options = SearchBenchOptions(
        spec=spec,
        backends=("numpy", "faiss", "lite"),
        nlist=16,
        nprobes=(1, 16),
        batch_size=500,
        measure=MeasureOptions(clients=(1, 4), duration_s=0.3, warmup=5, min_queries=60),
        settle=SettleOptions(timeout_s=120, stable_s=0.5, probe_queries=10, max_probe_windows=3),
        work_dir=tmp_path / "work",
    )
    steps: list[str] = []
    results = run_search_bench(options, lambda what, done, total: steps.append(what))
    paths = write_results(results, tmp_path / "results")

    runs = {(r.backend, r.index): r for r in results.runs}
    assert set(runs) == {("numpy", "EXACT"), ("faiss", "IVF_FLAT"), ("lite", "IVF_FLAT")}
    assert runs["numpy", "EXACT"].points[0].recall_at_k == 1.0
    faiss, lite = runs["faiss", "IVF_FLAT"], runs["lite", "IVF_FLAT"]
    # Every list searched is exact search: recall 1 on both; one list of 16 is less.
    assert [p.param for p in lite.points] == [1, 16]
    assert lite.points[1].recall_at_k >= 0.99
    assert faiss.points[1].recall_at_k >= 0.99
    assert lite.points[0].recall_at_k < lite.points[1].recall_at_k
    for point in lite.points:
        assert point.queries == 60
        assert [t.clients for t in point.throughput] == [1, 4]
        assert all(t.qps > 0 and t.errors == 0 for t in point.throughput)
        assert point.to_faiss is not None
        assert point.to_faiss.p50 is not None
    assert lite.load is not None
    assert lite.load.rows == 3000
    assert lite.load.rows_per_s > 0
    assert lite.disk is not None
    assert lite.disk.bytes > 3000 * 768 * 4
    assert "segments+index" in lite.disk.breakdown
    assert set(lite.disk.breakdown) <= {"wal", "segments+index"}
    assert 0 < lite.disk.data_bytes_per_million_vectors <= lite.disk.bytes_per_million_vectors
    assert lite.memory is not None
    assert lite.memory.rss_bytes > 0
    # Lite ran in a child process: its memory is not this test process's.
    assert "Lite" in lite.memory.of
    assert any("lite IVF_FLAT: writing" in s for s in steps)

    doc = json.loads(paths["json"].read_text())
    assert doc["schema"] == "soko.bench.search/1"
    assert Results.model_validate(doc).dataset.n == 3000
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = paths["table"].read_text()
    assert "| lite | IVF_FLAT | nprobe 16 |" in table


def test_cli_refuses_unknown_backend_with_one_line() -> None:
    result = run_soko(
        "search",
        "--n",
        "100",
        "--backends",
        "redis",
        env={"MILVUS_ADDRESS": "./unused.db"},
        module="soko_bench",
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "redis" in result.stderr
