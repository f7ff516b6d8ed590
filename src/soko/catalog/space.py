"""Which vector space the catalog's stored vectors belong to (`catalog_meta`).

The first hydrate claims the space; a later hydrate with another embedder or other fusion
weights is refused, so vectors of two spaces never mix. `soko reindex` moves the catalog to a
new space.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from soko.catalog.models import META_TABLE, META_VECTOR_SPACE, PRODUCTS
from soko.catalog.products import Catalog
from soko.errors import EmbedderMismatch

P = PRODUCTS.c
META = META_TABLE


def recorded_space(conn: Connection) -> str | None:
    """The `VectorSpace.id` of the stored vectors (None before the first)."""
    return conn.execute(
        select(META.c.value).where(META.c.key == META_VECTOR_SPACE)
    ).scalar_one_or_none()


def claim_space(conn: Connection, space_id: str) -> None:
    """Record `space_id` if none is, or raise EmbedderMismatch if another one is."""
    recorded = recorded_space(conn)
    if recorded is None:
        conn.execute(insert(META), [{"key": META_VECTOR_SPACE, "value": space_id}])
    elif recorded != space_id:
        raise EmbedderMismatch(
            f"the catalog holds vectors from {recorded!r}, this process makes "
            f"{space_id!r}; run `soko reindex` to re-embed every product, or set "
            "SOKO_EMBEDDER and the fusion weights to match"
        )


class SpaceRecord:
    """The catalog's record of its vector space."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def get(self) -> str | None:
        with self.catalog.reading() as conn:
            return recorded_space(conn)

    def reset_for_reindex(self, space_id: str) -> tuple[int, int]:
        """After `soko reindex` re-created the collection empty for `space_id`.

        Every live product must be written again. If the catalog's vectors come from another
        vector space they are useless now: the products are marked for re-hydration and stop
        counting as having a vector (so the worker cannot write old vectors into the new
        collection). Returns (products to re-hydrate, products to re-ingest).
        """
        with self.catalog.writing() as conn:
            recorded = recorded_space(conn)
            rehydrate = 0
            if recorded is not None and recorded != space_id:
                rehydrate = conn.execute(
                    update(PRODUCTS)
                    .where(P.has_vector == True)  # noqa: E712 (SQL)
                    .values(has_vector=False, hydrate_needed=True, version=P.version + 1)
                ).rowcount
                conn.execute(META.delete().where(META.c.key == META_VECTOR_SPACE))
            rewrite = conn.execute(
                update(PRODUCTS).where(P.written_version.is_not(None)).values(written_version=None)
            ).rowcount
        return int(rehydrate), int(rewrite)
