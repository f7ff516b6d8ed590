"""A product's vectors in the `product_vectors` table: float32 little-endian blobs.

Hydrate writes them (`HydrateQueue.store`), the ingest queue reads the hybrid one into the
batches it claims, search reads it for "similar to this product".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from soko.catalog.models import VECTORS
from soko.errors import InvalidVector

V = VECTORS.c


@dataclass(frozen=True)
class StoredVectors:
    image: npt.NDArray[np.float32] | None
    text: npt.NDArray[np.float32] | None
    hybrid: npt.NDArray[np.float32] | None
    #: The photo's perceptual hash, stored with the image vector.
    image_hash: int | None = None


def vector_bytes(vector: npt.ArrayLike | None, dim: int, product_id: int) -> bytes | None:
    """float32 little-endian bytes of a finite `dim`-vector, or InvalidVector."""
    if vector is None:
        return None
    array = np.asarray(vector, dtype="<f4").reshape(-1)
    if array.shape[0] != dim:
        raise InvalidVector(
            f"product {product_id}: vector has {array.shape[0]} dimensions, expected {dim}",
            product_id=product_id,
        )
    if not np.isfinite(array).all():
        raise InvalidVector(
            f"product {product_id}: vector contains NaN or inf", product_id=product_id
        )
    return array.tobytes()


def vector_from_bytes(data: bytes | None) -> npt.NDArray[np.float32] | None:
    if data is None:
        return None
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def upsert_vectors(conn: Connection) -> Any:
    """INSERT ... ON CONFLICT (product_id) DO UPDATE for product_vectors, in this dialect."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(VECTORS)
    return statement.on_conflict_do_update(
        index_elements=[V.product_id],
        set_={
            "image_vector": statement.excluded.image_vector,
            "text_vector": statement.excluded.text_vector,
            "hybrid_vector": statement.excluded.hybrid_vector,
            "image_hash": statement.excluded.image_hash,
        },
    )
