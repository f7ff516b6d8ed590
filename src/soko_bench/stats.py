"""Recall, latency percentiles and ratios: the arithmetic every benchmark figure goes through."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel


def recall_at_k(
    found: Sequence[npt.NDArray[np.int64]] | npt.NDArray[np.int64],
    truth: npt.NDArray[np.int64],
    k: int,
) -> float:
    """Mean over queries of |found[:k] ∩ truth[:k]| / k (missing results count as misses)."""
    if len(found) != truth.shape[0]:
        raise ValueError(f"{len(found)} result lists for {truth.shape[0]} queries")
    if truth.shape[1] < k:
        raise ValueError(f"ground truth has {truth.shape[1]} neighbours, need {k}")
    if len(found) == 0:
        raise ValueError("no queries")
    hits = 0
    for got, want in zip(found, truth, strict=True):
        hits += len(set(np.asarray(got)[:k].tolist()) & set(want[:k].tolist()))
    return hits / (k * len(found))


def percentile(values: Sequence[float] | npt.NDArray[np.float64], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks."""
    if len(values) == 0:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q, method="linear"))


class Latency(BaseModel):
    """Latency figures in milliseconds over `count` requests."""

    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @classmethod
    def of_seconds(cls, samples: Sequence[float] | npt.NDArray[np.float64]) -> Latency:
        ms = np.asarray(samples, dtype=np.float64) * 1000.0
        return cls(
            count=int(ms.size),
            p50_ms=percentile(ms, 50),
            p95_ms=percentile(ms, 95),
            p99_ms=percentile(ms, 99),
            mean_ms=float(ms.mean()),
            max_ms=float(ms.max()),
        )


def ratio(value: float | None, reference: float | None) -> float | None:
    """value / reference, or None when either is missing or the reference is not positive."""
    if value is None or reference is None or reference <= 0:
        return None
    return value / reference
