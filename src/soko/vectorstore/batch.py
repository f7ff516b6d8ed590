"""A columnar batch of product vectors: numpy arrays, validated once, ready for the wire."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from soko.errors import InvalidVector
from soko.vectorstore.schema import (
    CATEGORY_MAX_BYTES,
    IMAGE_URL_MAX_BYTES,
    NAME_MAX_BYTES,
    truncate_utf8,
)


@dataclass(frozen=True)
class ProductVectors:
    """n products: one row per index across all columns."""

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
    ) -> ProductVectors:
        """Coerce, check and trim a batch. Raises InvalidVector naming the first bad id."""
        ids = np.ascontiguousarray(product_ids, dtype=np.int64)
        vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
        n = ids.shape[0]
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

    def slice(self, start: int, stop: int) -> ProductVectors:
        return ProductVectors(
            product_ids=self.product_ids[start:stop],
            embeddings=self.embeddings[start:stop],
            product_names=self.product_names[start:stop],
            categories=self.categories[start:stop],
            prices=self.prices[start:stop],
            seller_ids=self.seller_ids[start:stop],
            image_urls=self.image_urls[start:stop],
            created_at=self.created_at[start:stop],
            last_hydrated_at=self.last_hydrated_at[start:stop],
        )
