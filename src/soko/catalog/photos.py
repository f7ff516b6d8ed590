"""Photo prints: what duplicate checks compare of a product's photo.

A print is a live product's image vector and perceptual hash (product_vectors), with its
seller. Products without a photo have no image vector and no print: duplicate checks skip
them. Read by id (the candidates a search returned) or the whole catalog in id order, in
chunks (`soko duplicates`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select

from soko.catalog.models import PRODUCTS, VECTORS
from soko.catalog.products import Catalog
from soko.catalog.vectors import vector_from_bytes

P = PRODUCTS.c
V = VECTORS.c
#: SQLite's default limit of bound parameters is 32766; stay well below it.
IDS_PER_QUERY = 900


@dataclass(frozen=True)
class PhotoPrint:
    product_id: int
    seller_id: int
    #: Unit image vector.
    image: npt.NDArray[np.float32]
    #: None: hydrated before hashes were stored.
    image_hash: int | None


def _select() -> Any:
    return (
        select(P.id, P.seller_id, V.image_vector, V.image_hash)
        .select_from(PRODUCTS.join(VECTORS, V.product_id == P.id))
        .where(P.deleted == False, V.image_vector.is_not(None))  # noqa: E712 (SQL)
    )


def _print(row: Any) -> PhotoPrint:
    vector = vector_from_bytes(row.image_vector)
    assert vector is not None
    norm = float(np.linalg.norm(vector))
    unit = vector / norm if norm > 0 else vector
    hashed = None if row.image_hash is None else int(row.image_hash)
    return PhotoPrint(int(row.id), int(row.seller_id), unit, hashed)


def photo_prints(catalog: Catalog, product_ids: Sequence[int]) -> dict[int, PhotoPrint]:
    """The prints of those of these live products that have a photo."""
    ids = sorted({int(i) for i in product_ids})
    found: dict[int, PhotoPrint] = {}
    with catalog.reading() as conn:
        for start in range(0, len(ids), IDS_PER_QUERY):
            part = ids[start : start + IDS_PER_QUERY]
            for row in conn.execute(_select().where(P.id.in_(part))):
                found[int(row.id)] = _print(row)
    return found


def iter_photo_prints(catalog: Catalog, chunk: int = 1000) -> Iterator[list[PhotoPrint]]:
    """Every live product's print, in id order, `chunk` at a time (keyset pages)."""
    after = None
    while True:
        query = _select().order_by(P.id).limit(chunk)
        if after is not None:
            query = query.where(P.id > after)
        with catalog.reading() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return
        yield [_print(row) for row in rows]
        after = int(rows[-1].id)


def count_photo_prints(catalog: Catalog) -> int:
    """How many live products have a print."""
    with catalog.reading() as conn:
        return int(
            conn.execute(select(func.count()).select_from(_select().subquery())).scalar_one()
        )
