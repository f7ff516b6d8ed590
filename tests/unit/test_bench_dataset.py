"""The benchmark's data: reproducible, clustered, and its ground truth exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from soko_bench.dataset import (
    DatasetSpec,
    Mixture,
    build_dataset,
    exact_top_k,
    generate_base_chunk,
    product_batches,
)

SMALL = DatasetSpec(n=3000, queries=40, dim=32, clusters=24, categories=4, spread=0.5, seed=7)


def test_same_spec_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    a = build_dataset(SMALL, tmp_path / "a")
    b = build_dataset(SMALL, tmp_path / "b")
    c = build_dataset(DatasetSpec(**{**SMALL.__dict__, "seed": 8}), tmp_path / "c")
    assert np.array_equal(a.base(), b.base())
    assert np.array_equal(a.queries(), b.queries())
    assert np.array_equal(a.truth(), b.truth())
    assert np.array_equal(a.categories(), b.categories())
    assert not np.array_equal(a.base(), c.base())


def test_vectors_are_unit_length_and_clustered() -> None:
    mixture = Mixture.of(SMALL)
    points, cluster = generate_base_chunk(SMALL, mixture, 0)
    assert points.dtype == np.float32
    assert np.allclose(np.linalg.norm(points, axis=1), 1.0, atol=1e-5)
    similarity = points @ mixture.centres.T
    # Every point is nearest its own cluster centre, and much closer to it than to others.
    assert (similarity.argmax(axis=1) == cluster).mean() > 0.99
    own = similarity[np.arange(len(points)), cluster]
    assert own.mean() > 0.8
    assert float(np.median(similarity)) < 0.5
    # Categories group clusters: every category is used, sizes are uneven (lognormal).
    assert set(mixture.category_of.tolist()) == set(range(SMALL.categories))
    assert mixture.weights.max() > 2 * mixture.weights.min()


def test_queries_are_held_out(tmp_path: Path) -> None:
    data = build_dataset(SMALL, tmp_path)
    base, queries = np.asarray(data.base()), data.queries()
    nearest = ((queries[:, None, :] - base[None, :, :]) ** 2).sum(-1).min(axis=1)
    assert (nearest > 1e-6).all()


def naive_top_k(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    q, b = queries.astype(np.float64), base.astype(np.float64)
    d = ((q[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("chunk", [1, 7, 256, 5000])
def test_ground_truth_matches_naive_search(tmp_path: Path, chunk: int) -> None:
    data = build_dataset(SMALL, tmp_path)
    base = np.asarray(data.base())
    chunks = (base[i : i + chunk] for i in range(0, len(base), chunk))
    ids, distances = exact_top_k(chunks, data.queries(), 10)
    want = naive_top_k(base, data.queries(), 10)
    assert np.array_equal(ids, want)
    assert np.array_equal(data.truth(), want)
    assert (np.diff(distances, axis=1) >= 0).all()


def test_ground_truth_breaks_ties_by_row() -> None:
    base = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    ids, _ = exact_top_k(iter([base[:1], base[1:]]), query, 3)
    assert ids.tolist() == [[0, 2, 1]]


def test_cached_dataset_is_reused_and_rebuilt_when_spec_changes(tmp_path: Path) -> None:
    first = build_dataset(SMALL, tmp_path)
    again = build_dataset(SMALL, tmp_path)
    assert again.generate_s == first.generate_s  # read from meta.json, not regenerated
    other = build_dataset(DatasetSpec(**{**SMALL.__dict__, "queries": 5}), tmp_path)
    assert other.queries().shape == (5, SMALL.dim)


def test_product_batches_cover_the_base_once(tmp_path: Path) -> None:
    data = build_dataset(SMALL, tmp_path)
    batches = list(product_batches(data, 1000))
    ids = np.concatenate([b.product_ids for b in batches])
    assert ids.tolist() == list(range(1, SMALL.n + 1))
    assert np.array_equal(np.concatenate([b.embeddings for b in batches]), data.base())
    categories = [c for b in batches for c in b.categories]
    assert categories[5] == f"category-{int(data.categories()[5]):03d}"


@pytest.mark.parametrize(
    "bad",
    [
        {"n": 0},
        {"categories": 30},  # more categories than clusters
        {"spread": -1.0},
        {"k": 5000},
    ],
)
def test_bad_specs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        DatasetSpec(**{**SMALL.__dict__, **bad})
