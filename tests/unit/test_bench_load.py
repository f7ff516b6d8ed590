"""`soko-bench load` cuts Locust's request records into offered-rate steps correctly."""

from __future__ import annotations

from pathlib import Path

from soko_bench.load import LoadOptions, held_rate, summarize


def test_steps_percentiles_errors_and_the_held_rate(tmp_path: Path) -> None:
    records = tmp_path / "requests.csv"
    lines = []
    # Step 0 (10/s offered): fast. Step 1 (20/s): 2.5% slow queries break p99. Step 2: errors.
    for i in range(100):
        lines.append(f"{1000 + i * 0.1:.4f},similar,{10 + i % 5},1")
    lines.append("1001.0,write,30,1")
    for i in range(200):
        slow = 900 if i % 40 == 7 else 20  # 5 of 200: above the 99th percentile
        lines.append(f"{1010 + i * 0.05:.4f},{'photo' if i % 2 else 'text'},{slow},1")
    for i in range(50):
        lines.append(f"{1020 + i * 0.2:.4f},similar,15,{0 if i < 3 else 1}")
    records.write_text("\n".join(lines) + "\n")
    options = LoadOptions(n=100, rates=(10, 20, 30), step_s=10.0, work_dir=tmp_path)
    steps = summarize(records, options)
    assert [s.offered_per_s for s in steps] == [10, 20, 30]
    first, second, third = steps
    assert (first.queries, first.errors, first.writes) == (100, 0, 1)
    assert first.achieved_per_s == 10.0
    assert first.held
    assert set(second.by_kind) == {"photo", "text"}
    assert second.latency.p99_ms > 150
    assert not second.held
    assert third.errors == 3
    assert held_rate(steps) == 10
