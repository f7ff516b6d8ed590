"""Test data builders (real data shapes, no stand-ins)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from soko.catalog import Catalog, HydrateQueue, ProductCreate, VectorUpdate
from soko.embedding import DIM, VectorSpace
from soko.products import ProductBatch

CATEGORIES = ("shoes", "bags", "phones", "fabrics")


def unit_vectors(n: int, seed: int = 0, dim: int = DIM) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    vectors: npt.NDArray[np.float32] = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def clustered_unit_vectors(
    n: int, clusters: int = 8, spread: float = 0.3, seed: int = 0
) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    centres = unit_vectors(clusters, seed + 1)
    noise = rng.standard_normal((n, DIM)).astype(np.float32) * (spread / np.sqrt(DIM))
    vectors: npt.NDArray[np.float32] = centres[rng.integers(0, clusters, n)] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def product_batch(
    ids: Sequence[int] | npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
    *,
    categories: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
) -> ProductBatch:
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids)
    return ProductBatch.build(
        product_ids=ids,
        embeddings=vectors,
        product_names=list(names) if names is not None else [f"product {i}" for i in ids],
        categories=(
            list(categories)
            if categories is not None
            else [CATEGORIES[int(i) % len(CATEGORIES)] for i in ids]
        ),
        prices=(ids % 100).astype(np.float32) * 10.0,
        seller_ids=ids % 7,
        image_urls=[f"https://img.example/{i}.jpg" for i in ids],
        created_at=np.full(n, 1_700_000_000, dtype=np.int64),
        last_hydrated_at=np.full(n, 1_700_000_100, dtype=np.int64) + ids,
        dim=DIM,
    )


def brute_force_top_k(
    corpus: npt.NDArray[np.float32], queries: npt.NDArray[np.float32], k: int
) -> npt.NDArray[np.int64]:
    """Exact top-k row indices by squared L2 (ties broken by index)."""
    d = (queries**2).sum(1)[:, None] - 2.0 * queries @ corpus.T + (corpus**2).sum(1)[None, :]
    return np.argsort(d, axis=1, kind="stable")[:, :k]


# --- catalog ----------------------------------------------------------------------------------
#: The vector space recorded by catalogs that tests fill with precomputed vectors.
TEST_VECTOR_SPACE = VectorSpace("test-precomputed", 0.6, 0.4)
TEST_SPACE = TEST_VECTOR_SPACE.id


def product_creates(ids: Sequence[int] | range, *, seller: int = 1) -> list[ProductCreate]:
    return [
        ProductCreate(
            product_id=int(i),
            name=f"product {i}",
            description=f"description of product {i}",
            category=CATEGORIES[int(i) % len(CATEGORIES)],
            price=float(int(i) % 100) * 10.0,
            seller_id=seller,
            image_url=f"https://img.example/{i}.jpg",
        )
        for i in ids
    ]


def seed_catalog(
    catalog: Catalog, ids: Sequence[int] | range, *, seed: int = 0
) -> dict[int, npt.NDArray[np.float32]]:
    """Import products and give them precomputed unit vectors, as hydrate would."""
    catalog.import_products(product_creates(ids))
    vectors = unit_vectors(len(ids), seed=seed)
    versions = {pid: p.version for pid, p in catalog.get_many(list(ids)).items()}
    HydrateQueue(catalog).store(
        [
            VectorUpdate(product_id=int(i), version=versions[int(i)], hybrid=vectors[k])
            for k, i in enumerate(ids)
        ],
        TEST_VECTOR_SPACE,
    )
    return {int(i): vectors[k] for k, i in enumerate(ids)}
