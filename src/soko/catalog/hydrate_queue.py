"""The hydrate queue: products that need vectors, and the compare-and-set write of them.

Due: live products that are new or whose text or image source changed, whose vectors are
older than the refresh age, or whose image failed and is due for another try. Hydrate's
results are written only where the row is still at the version hydrate read: an edit made
meanwhile is hydrated again on the next pass.

A failure is recorded on the product that caused it (`hydrate_error`, `hydrate_attempts`,
`next_hydrate_at`). `next_hydrate_at` NULL with an error means final: a refusal that
trying again cannot change (a URL refused by the fetcher's rules, nothing to embed); such a
product is not due again until it changes (an edit sets `hydrate_needed` and clears the
error).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import and_, bindparam, func, or_, select, update

from soko.catalog.models import PRODUCTS
from soko.catalog.products import Catalog, utcnow
from soko.catalog.space import claim_space
from soko.catalog.vectors import upsert_vectors, vector_bytes

if TYPE_CHECKING:
    from soko.embedding.space import VectorSpace

P = PRODUCTS.c


@dataclass(frozen=True)
class HydrateCandidate:
    """What hydrate needs of a product: its text, its image source, and its version."""

    product_id: int
    version: int
    name: str
    description: str
    image_url: str | None
    image_path: str | None
    attempts: int
    #: False for a stale refresh or an image retry: the image source is unchanged.
    source_changed: bool


@dataclass(frozen=True)
class VectorUpdate:
    """Hydrate's result for one product, written only if the row is still at `version`.

    `hybrid` None: nothing could be embedded; only the error is recorded and the product's
    stored vectors (if any) are left as they were.
    """

    product_id: int
    version: int
    hybrid: npt.NDArray[np.float32] | None
    image: npt.NDArray[np.float32] | None = None
    text: npt.NDArray[np.float32] | None = None
    #: The photo's perceptual hash (with `image`; None without a photo).
    image_hash: int | None = None
    hydrated_at: datetime = field(default_factory=utcnow)
    error: str | None = None
    #: When `error` is set: the attempt count so far and when to try again (None: final,
    #: not tried again until the product changes).
    attempts: int = 0
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class HydrateFailure:
    """A product whose last hydration failed, and why."""

    product_id: int
    error: str
    attempts: int
    #: When it is tried again; None: final until the product changes.
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class HydrateFailures:
    """How many live products carry a hydrate error, and the first few of them."""

    count: int
    examples: list[HydrateFailure]


def _due(now: datetime, stale_before: datetime) -> Any:
    """Live products that need vectors: new or changed, stale, or due an image retry.

    A product with an error waits for its retry time (never, when the failure is final)
    unless it changes: a product that cannot get a vector is not picked on every pass.
    """
    return and_(
        P.deleted == False,  # noqa: E712 (SQL)
        or_(
            P.hydrate_needed == True,  # noqa: E712 (SQL)
            and_(
                P.hydrate_error.is_(None),
                or_(
                    P.has_vector == False,  # noqa: E712 (SQL)
                    P.last_hydrated_at.is_(None),
                    P.last_hydrated_at < stale_before,
                ),
            ),
            and_(P.hydrate_error.is_not(None), P.next_hydrate_at <= now),
        ),
    )


_MARK_HYDRATED = (
    update(PRODUCTS)
    .where(P.id == bindparam("b_id"), P.version == bindparam("b_version"))
    .values(
        last_hydrated_at=bindparam("b_hydrated_at"),
        hydrate_error=bindparam("b_error"),
        hydrate_attempts=bindparam("b_attempts"),
        next_hydrate_at=bindparam("b_next"),
        hydrate_needed=False,
        has_vector=True,
        version=P.version + 1,
    )
    .returning(P.id)
)
#: Nothing could be embedded: the error is recorded, the stored vectors are left alone.
_MARK_FAILED = (
    update(PRODUCTS)
    .where(P.id == bindparam("b_id"), P.version == bindparam("b_version"))
    .values(
        hydrate_error=bindparam("b_error"),
        hydrate_attempts=bindparam("b_attempts"),
        next_hydrate_at=bindparam("b_next"),
        hydrate_needed=False,
    )
    .returning(P.id)
)


class HydrateQueue:
    """The catalog's products due for hydration, read in id order."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def due(
        self, limit: int, *, after_id: int = 0, now: datetime, stale_before: datetime
    ) -> list[HydrateCandidate]:
        """Up to `limit` products due for hydration with id > after_id, in id order."""
        with self.catalog.reading() as conn:
            rows = conn.execute(
                select(
                    P.id,
                    P.version,
                    P.name,
                    P.description,
                    P.image_url,
                    P.image_path,
                    P.hydrate_attempts,
                    P.hydrate_needed,
                )
                .where(_due(now, stale_before), P.id > after_id)
                .order_by(P.id)
                .limit(limit)
            ).all()
        return [HydrateCandidate(*row[:7], source_changed=bool(row[7])) for row in rows]

    def count_due(self, *, now: datetime, stale_before: datetime) -> int:
        with self.catalog.reading() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(PRODUCTS).where(_due(now, stale_before))
                ).scalar_one()
            )

    def store(self, updates: Sequence[VectorUpdate], space: VectorSpace) -> list[int]:
        """Write hydrate results, each only if its row is still at the version hydrate read.

        Returns the ids written; the others changed meanwhile and stay due for hydration.
        The catalog's vector space is claimed for `space` (EmbedderMismatch if it is another).
        """
        rows = [
            None
            if u.hybrid is None
            else {
                "product_id": u.product_id,
                "image_vector": vector_bytes(u.image, space.dim, u.product_id),
                "text_vector": vector_bytes(u.text, space.dim, u.product_id),
                "hybrid_vector": vector_bytes(u.hybrid, space.dim, u.product_id),
                "image_hash": u.image_hash if u.image is not None else None,
            }
            for u in updates
        ]
        written: list[int] = []
        with self.catalog.writing() as conn:
            claim_space(conn, space.id)
            # One statement per row: RETURNING with executemany is not portable.
            for u, row in zip(updates, rows, strict=True):
                params = {
                    "b_id": u.product_id,
                    "b_version": u.version,
                    "b_hydrated_at": u.hydrated_at,
                    "b_error": u.error,
                    "b_attempts": u.attempts if u.error else 0,
                    "b_next": u.next_attempt_at if u.error else None,
                }
                if row is None:
                    if conn.execute(_MARK_FAILED, params).first() is not None:
                        written.append(u.product_id)
                    continue
                if conn.execute(_MARK_HYDRATED, params).first() is None:
                    continue  # changed since hydrate read it: its vectors would be stale
                conn.execute(upsert_vectors(conn), [row])
                written.append(u.product_id)
        return written

    def failures(self, limit: int = 5) -> HydrateFailures:
        """Live products whose last hydration failed: the count and the first `limit`."""
        failing = and_(P.deleted == False, P.hydrate_error.is_not(None))  # noqa: E712 (SQL)
        with self.catalog.reading() as conn:
            count = conn.execute(
                select(func.count()).select_from(PRODUCTS).where(failing)
            ).scalar_one()
            rows = conn.execute(
                select(P.id, P.hydrate_error, P.hydrate_attempts, P.next_hydrate_at)
                .where(failing)
                .order_by(P.id)
                .limit(limit)
            ).all()
        return HydrateFailures(int(count), [HydrateFailure(*row) for row in rows])
