"""Reproducible clustered unit vectors, held-out queries and exact top-k ground truth.

The mixture has two levels, like product embeddings: categories, clusters of near-identical
products inside a category, and products around their cluster's centre (see
docs/benchmarks.md for why). Everything is generated in fixed chunks from seeded streams,
so a million rows never sit in memory twice and the same options always give the same bytes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from soko.embedding import DIM
from soko.products import ProductBatch

#: Rows per generation chunk. Part of the data's identity: changing it changes the data.
GENERATION_CHUNK = 50_000
#: Base rows per ground-truth step (queries x chunk distances in float32: 200 MB at 1,000).
GROUND_TRUTH_CHUNK = 50_000
#: Streams of the seeded generator, one per independent part of the data.
_CATEGORY_STREAM, _CLUSTER_STREAM, _BASE_STREAM, _QUERY_STREAM = 0, 1, 2, 3
#: Timestamps of the synthetic products (fixed, so batches are reproducible).
CREATED_AT = 1_700_000_000

Progress = Callable[[int], None]


@dataclass(frozen=True)
class DatasetSpec:
    """What to generate. Equal specs give identical vectors, queries and ground truth."""

    n: int
    queries: int = 1000
    dim: int = DIM
    clusters: int = 2048
    categories: int = 32
    spread: float = 0.6
    cluster_spread: float = 1.0
    seed: int = 0
    k: int = 10

    def __post_init__(self) -> None:
        if self.n < 1 or self.queries < 1 or self.dim < 2 or self.k < 1:
            raise ValueError("n, queries and k must be positive and dim at least 2")
        if not 1 <= self.categories <= self.clusters:
            raise ValueError("need 1 <= categories <= clusters")
        if self.spread < 0 or self.cluster_spread < 0:
            raise ValueError("spreads must not be negative")
        if self.k > self.n:
            raise ValueError("k must not exceed n")

    @property
    def key(self) -> str:
        return (
            f"n{self.n}-q{self.queries}-d{self.dim}-c{self.clusters}-g{self.categories}"
            f"-s{self.spread:g}-cs{self.cluster_spread:g}-seed{self.seed}-k{self.k}"
        )

    def cache_folder(self, work_dir: Path) -> Path:
        """Where the benchmarks keep this data set under `work_dir`: one copy per spec."""
        return work_dir / "data" / self.key


def _unit(rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def _rng(spec: DatasetSpec, *stream: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, *stream])


@dataclass(frozen=True)
class Mixture:
    """Cluster centres, their categories and their weights."""

    centres: npt.NDArray[np.float32]
    category_of: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float64]

    @classmethod
    def of(cls, spec: DatasetSpec) -> Mixture:
        rng = _rng(spec, _CATEGORY_STREAM)
        category_centres = _unit(rng.standard_normal((spec.categories, spec.dim), np.float32))
        rng = _rng(spec, _CLUSTER_STREAM)
        category_of = np.arange(spec.clusters, dtype=np.int64) % spec.categories
        noise = rng.standard_normal((spec.clusters, spec.dim), np.float32)
        centres = _unit(
            category_centres[category_of] + noise * np.float32(spec.cluster_spread / spec.dim**0.5)
        )
        # Uneven cluster sizes: a few best-sellers with many near-duplicates, a long tail.
        weights = rng.lognormal(0.0, 0.75, spec.clusters)
        return cls(centres, category_of, weights / weights.sum())

    def sample(
        self, spec: DatasetSpec, rng: np.random.Generator, rows: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """`rows` points and the cluster of each."""
        cluster = rng.choice(self.centres.shape[0], size=rows, p=self.weights)
        noise = rng.standard_normal((rows, spec.dim), np.float32)
        points = _unit(self.centres[cluster] + noise * np.float32(spec.spread / spec.dim**0.5))
        return points, cluster.astype(np.int64)


def generate_base_chunk(
    spec: DatasetSpec, mixture: Mixture, chunk: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Rows `chunk * GENERATION_CHUNK` onwards (vectors, cluster of each)."""
    start = chunk * GENERATION_CHUNK
    rows = min(GENERATION_CHUNK, spec.n - start)
    return mixture.sample(spec, _rng(spec, _BASE_STREAM, chunk), rows)


def generate_queries(
    spec: DatasetSpec, mixture: Mixture
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Held-out queries: drawn from the same mixture, never part of the base."""
    return mixture.sample(spec, _rng(spec, _QUERY_STREAM), spec.queries)


def exact_top_k(
    base_chunks: Iterator[npt.NDArray[np.float32]],
    queries: npt.NDArray[np.float32],
    k: int,
    progress: Progress | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Exact top-k row numbers and squared L2 distances, best first (ties: lower row first).

    Float32 matrix products over base chunks, keeping a running top-k per query.
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    q_norms = (q * q).sum(axis=1)[:, None]
    best_d = np.full((q.shape[0], k), np.inf, dtype=np.float32)
    best_i = np.full((q.shape[0], k), -1, dtype=np.int64)
    offset = 0
    for chunk in base_chunks:
        x = np.ascontiguousarray(chunk, dtype=np.float32)
        d = (x * x).sum(axis=1)[None, :] - 2.0 * (q @ x.T) + q_norms
        take = min(k, x.shape[0])
        part = np.argpartition(d, take - 1, axis=1)[:, :take]
        cand_d = np.concatenate([best_d, np.take_along_axis(d, part, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, part + offset], axis=1)
        # Sort by (distance, row) so equal distances keep the lower row number.
        order = np.lexsort((cand_i, cand_d), axis=1)[:, :k]
        best_d = np.take_along_axis(cand_d, order, axis=1)
        best_i = np.take_along_axis(cand_i, order, axis=1)
        offset += x.shape[0]
        if progress is not None:
            progress(x.shape[0])
    return best_i, np.maximum(best_d, 0.0)


@dataclass(frozen=True)
class Dataset:
    """A generated data set on disk: memory-mapped base, queries and ground truth."""

    spec: DatasetSpec
    folder: Path
    generate_s: float
    ground_truth_s: float

    @property
    def base_path(self) -> Path:
        return self.folder / "base.npy"

    def base(self) -> npt.NDArray[np.float32]:
        """The base vectors, memory-mapped (read-only)."""
        return np.load(self.base_path, mmap_mode="r")  # type: ignore[no-any-return]

    def categories(self) -> npt.NDArray[np.int16]:
        return np.load(self.folder / "category.npy")  # type: ignore[no-any-return]

    def queries(self) -> npt.NDArray[np.float32]:
        return np.load(self.folder / "queries.npy")  # type: ignore[no-any-return]

    def truth(self) -> npt.NDArray[np.int64]:
        """Exact top-k base row numbers per query."""
        return np.load(self.folder / "truth.npy")  # type: ignore[no-any-return]

    def chunks(
        self, rows: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
        """(first row, copy of the vectors) for consecutive slices of `rows` base rows."""
        base = self.base()
        stop = base.shape[0] if stop is None else stop
        for first in range(start, stop, rows):
            yield first, np.array(base[first : min(first + rows, stop)])
        del base


def build_dataset(
    spec: DatasetSpec,
    folder: Path,
    *,
    on_generate: Progress | None = None,
    on_truth: Progress | None = None,
) -> Dataset:
    """Generate (or reuse, when already complete) the data set of `spec` under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("spec") == asdict(spec):
            return Dataset(spec, folder, meta["generate_s"], meta["ground_truth_s"])
        meta_path.unlink()
    started = time.perf_counter()
    mixture = Mixture.of(spec)
    base = np.lib.format.open_memmap(
        folder / "base.npy", mode="w+", dtype=np.float32, shape=(spec.n, spec.dim)
    )
    category = np.empty(spec.n, dtype=np.int16)
    for chunk in range((spec.n + GENERATION_CHUNK - 1) // GENERATION_CHUNK):
        vectors, cluster = generate_base_chunk(spec, mixture, chunk)
        start = chunk * GENERATION_CHUNK
        base[start : start + vectors.shape[0]] = vectors
        category[start : start + vectors.shape[0]] = mixture.category_of[cluster]
        if on_generate is not None:
            on_generate(vectors.shape[0])
    base.flush()
    del base
    queries, _ = generate_queries(spec, mixture)
    np.save(folder / "category.npy", category)
    np.save(folder / "queries.npy", queries)
    generate_s = time.perf_counter() - started
    started = time.perf_counter()
    dataset = Dataset(spec, folder, generate_s, 0.0)
    truth, _ = exact_top_k(
        (chunk for _, chunk in dataset.chunks(GROUND_TRUTH_CHUNK)), queries, spec.k, on_truth
    )
    np.save(folder / "truth.npy", truth)
    ground_truth_s = time.perf_counter() - started
    meta = {"spec": asdict(spec), "generate_s": generate_s, "ground_truth_s": ground_truth_s}
    meta_path.write_text(json.dumps(meta, indent=2))
    return Dataset(spec, folder, generate_s, ground_truth_s)


def category_name(index: int) -> str:
    return f"category-{index:03d}"


def product_id(row: int) -> int:
    """Base row r is product r + 1 (ids start at 1, like catalog ids)."""
    return row + 1


def product_batch(
    first_row: int, vectors: npt.NDArray[np.float32], categories: npt.NDArray[np.int16]
) -> ProductBatch:
    """Synthetic products for base rows `first_row...`: the write path's input shape."""
    n = vectors.shape[0]
    ids = np.arange(first_row, first_row + n, dtype=np.int64) + 1
    return ProductBatch.build(
        product_ids=ids,
        embeddings=vectors,
        product_names=[f"product {i}" for i in ids.tolist()],
        categories=[category_name(int(c)) for c in categories],
        prices=((ids * 7919) % 100_000).astype(np.float32) / 100.0,
        seller_ids=ids % 5000,
        image_urls=[f"https://img.soko.example/p/{i}.jpg" for i in ids.tolist()],
        created_at=np.full(n, CREATED_AT, dtype=np.int64),
        last_hydrated_at=np.full(n, CREATED_AT + 3600, dtype=np.int64),
        dim=vectors.shape[1],
    )


def product_batches(dataset: Dataset, batch_size: int) -> Iterator[ProductBatch]:
    """The whole base as write-path batches of `batch_size` products."""
    categories = dataset.categories()
    for first, vectors in dataset.chunks(batch_size):
        yield product_batch(first, vectors, categories[first : first + vectors.shape[0]])
