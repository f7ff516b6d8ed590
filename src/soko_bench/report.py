"""Human-readable views of a results file: markdown tables and the recall/latency plot."""

from __future__ import annotations

from pathlib import Path

from soko_bench.results import Results, Run


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _qps(run_point_throughput: list[tuple[int, float]], clients: int) -> str:
    for c, qps in run_point_throughput:
        if c == clients:
            return f"{qps:,.0f}"
    return "–"


def markdown_table(results: Results) -> str:
    d = results.dataset
    lines = [
        f"N = {d.n:,} vectors x {d.dim} dims ({d.clusters} clusters in {d.categories} "
        f"categories, spread {d.spread:g}, seed {d.seed}), {d.queries:,} held-out queries, "
        f"top-{d.k}. Machine: {results.machine.cores} cores ({results.machine.cpu}), "
        f"wall time {results.wall_s / 60:.1f} min.",
        "",
        "| backend | index | param | recall@10 | p50 ms | p95 ms | p99 ms | QPS 1 / 4 / 16 "
        "clients | p50 / FAISS |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in results.runs:
        for p in run.points:
            tp = [(t.clients, t.qps) for t in p.throughput]
            qps = " / ".join(_qps(tp, c) for c in (1, 4, 16))
            vs = _f(p.to_faiss.p50, 2) + "x" if p.to_faiss and p.to_faiss.p50 else "–"
            param = "–" if p.param_name == "exact" else f"{p.param_name} {p.param}"
            lines.append(
                f"| {run.backend} | {run.index} | {param} | {p.recall_at_k:.3f} | "
                f"{p.latency.p50_ms:.1f} | {p.latency.p95_ms:.1f} | {p.latency.p99_ms:.1f} | "
                f"{qps} | {vs} |"
            )
    lines += [
        "",
        "| backend | index | insert vectors/s (until searchable) | writers | index build + "
        "settle s | disk GB per 1M vectors: collection (all) | memory (RSS) GB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in results.runs:
        lines.append(_summary_row(run))
    return "\n".join(lines) + "\n"


def _summary_row(run: Run) -> str:
    rate = _f(run.load.rows_per_s, 0) if run.load else "–"
    writers = str(run.load.writers) if run.load else "–"
    build = _f(run.settle.total_s) if run.settle else _f(run.build_s)
    disk = (
        f"{run.disk.data_bytes_per_million_vectors / 1e9:.2f} "
        f"({run.disk.bytes_per_million_vectors / 1e9:.2f})"
        if run.disk
        else "–"
    )
    rss = _f(run.memory.rss_bytes / 1e9, 2) if run.memory else "–"
    return f"| {run.backend} | {run.index} | {rate} | {writers} | {build} | {disk} | {rss} |"


def plot_recall_latency(results: Results, path: Path) -> None:
    """Recall@k against single-client p50 latency, one line per backend and index."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for run in results.runs:
        xs = [p.recall_at_k for p in run.points]
        ys = [p.latency.p50_ms for p in run.points]
        style = "--" if run.backend in {"faiss", "numpy"} else "-"
        exact = run.backend == "numpy"
        (line,) = ax.plot(
            xs,
            ys,
            style,
            marker="*" if exact else "o",
            markersize=14 if exact else 6,
            zorder=5 if exact else 2,
            label=f"{run.backend} {run.index}",
        )
        for p, x, y in zip(run.points, xs, ys, strict=True):
            if p.param_name != "exact":
                ax.annotate(
                    str(p.param),
                    (x, y),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                    color=line.get_color(),
                )
    d = results.dataset
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@{d.k}")
    ax.set_ylabel("p50 latency, one client (ms, log)")
    ax.set_title(f"{d.n:,} x {d.dim} clustered unit vectors: recall vs latency (labels: nprobe/ef)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
