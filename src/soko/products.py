"""The shapes a product takes on its way to Milvus and back, each defined once.

- `ProductBatch`: n products with their vectors, as columns. The ingest queue claims one from
  the catalog and the vector store writes it as it is (the collection's nine fields).
- `ProductRecord`: one product as the collection holds it (what `VectorStore.get` returns).
- `ProductHit`: one search result, the product's fields and its score; the search service
  returns these and the API shapes them into JSON.

The field sizes are the collection's (docs/architecture.md, "Contracts"); the catalog
refuses longer categories rather than cutting them, and cuts nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from soko.errors import InvalidVector

INT64_MAX = 2**63 - 1
#: VARCHAR sizes of the collection's string fields, in UTF-8 bytes.
NAME_MAX_BYTES = 256
CATEGORY_MAX_BYTES = 64
IMAGE_URL_MAX_BYTES = 2048


def truncate_utf8(text: str, max_bytes: int) -> str:
    """Cut `text` to at most `max_bytes` UTF-8 bytes without splitting a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


@dataclass(frozen=True)
class ProductBatch:
    """n products: one row per index across all columns, validated by `build`."""

    product_ids: npt.NDArray[np.int64]
    embeddings: npt.NDArray[np.float32]
    product_names: Sequence[str]
    categories: Sequence[str]
    prices: npt.NDArray[np.float32]
    seller_ids: npt.NDArray[np.int64]
    image_urls: Sequence[str]
    created_at: npt.NDArray[np.int64]
    last_hydrated_at: npt.NDArray[np.int64]

    @classmethod
    def build(
        cls,
        *,
        product_ids: Sequence[int] | npt.NDArray[np.integer],
        embeddings: npt.ArrayLike,
        product_names: Sequence[str],
        categories: Sequence[str],
        prices: Sequence[float] | npt.NDArray[np.floating],
        seller_ids: Sequence[int] | npt.NDArray[np.integer],
        image_urls: Sequence[str],
        created_at: Sequence[int] | npt.NDArray[np.integer],
        last_hydrated_at: Sequence[int] | npt.NDArray[np.integer],
        dim: int,
    ) -> ProductBatch:
        """Coerce, check and trim a batch. Raises InvalidVector naming the first bad id."""
        ids = np.ascontiguousarray(product_ids, dtype=np.int64)
        n = ids.shape[0]
        vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
        if n == 0 and vectors.size == 0:
            vectors = vectors.reshape(0, dim)
        if vectors.ndim != 2 or vectors.shape[0] != n:
            raise InvalidVector(f"expected {n} vectors, got an array of shape {vectors.shape}")
        if vectors.shape[1] != dim:
            raise InvalidVector(
                f"product {int(ids[0]) if n else '?'}: vector has {vectors.shape[1]} dimensions, "
                f"the collection has {dim}",
                product_id=int(ids[0]) if n else None,
            )
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            bad = int(ids[int(np.argmin(finite))])
            raise InvalidVector(f"product {bad}: vector contains NaN or inf", product_id=bad)
        columns = {
            "product_names": product_names,
            "categories": categories,
            "prices": prices,
            "seller_ids": seller_ids,
            "image_urls": image_urls,
            "created_at": created_at,
            "last_hydrated_at": last_hydrated_at,
        }
        for name, column in columns.items():
            if len(column) != n:
                raise InvalidVector(f"column {name} has {len(column)} values for {n} products")
        price_array = np.ascontiguousarray(prices, dtype=np.float32)
        if not np.isfinite(price_array).all():
            bad = int(ids[int(np.argmin(np.isfinite(price_array)))])
            raise InvalidVector(f"product {bad}: price is NaN or inf", product_id=bad)
        if np.unique(ids).shape[0] != n:
            raise InvalidVector("a batch must not hold the same product id twice")
        return cls(
            product_ids=ids,
            embeddings=vectors,
            product_names=[truncate_utf8(s, NAME_MAX_BYTES) for s in product_names],
            categories=[truncate_utf8(s, CATEGORY_MAX_BYTES) for s in categories],
            prices=price_array,
            seller_ids=np.ascontiguousarray(seller_ids, dtype=np.int64),
            image_urls=[truncate_utf8(s, IMAGE_URL_MAX_BYTES) for s in image_urls],
            created_at=np.ascontiguousarray(created_at, dtype=np.int64),
            last_hydrated_at=np.ascontiguousarray(last_hydrated_at, dtype=np.int64),
        )

    def __len__(self) -> int:
        return int(self.product_ids.shape[0])


@dataclass(frozen=True)
class ProductRecord:
    """One product as the collection holds it (its vector only when asked for)."""

    product_id: int
    product_name: str
    category: str
    price: float
    seller_id: int
    image_url: str
    created_at: int
    last_hydrated_at: int
    embedding: npt.NDArray[np.float32] | None = None


@dataclass(frozen=True)
class ProductHit:
    """One search result: the product's fields as Milvus holds them and how close it is.

    `score` is the cosine similarity, `1 - distance / 2` for Milvus's squared L2 distance
    (docs/scores.md).
    """

    product_id: int
    product_name: str
    category: str
    price: float
    seller_id: int
    image_url: str
    score: float
    distance: float
