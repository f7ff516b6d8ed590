"""`soko reindex`: re-create the collection empty for the running vector space.

After a change of embedder or fusion weights the collection's vectors are of another space:
the collection is dropped and re-created, and the catalog is told to write every product
again (re-embedding them first when its stored vectors are of the old space too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from soko.catalog import Catalog, SpaceRecord
from soko.config import Settings
from soko.embedding import VectorSpace
from soko.vectorstore import VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReindexResult:
    collection: str
    space_id: str
    #: Vectors dropped with the old collection (0 if there was none).
    dropped: int
    #: Products to re-embed (their vectors were of another space) and to re-ingest.
    rehydrate: int
    rewrite: int


def reindex(
    settings: Settings,
    catalog: Catalog,
    space: VectorSpace,
    *,
    confirm: Callable[[str], None],
) -> ReindexResult:
    """Drop and re-create the collection for `space`; `confirm(question)` may abort."""
    dropped = 0
    with VectorStore.open_existing(settings) as store:
        if store.exists():
            recorded = store.recorded_embedder() or "an unknown embedder"
            dropped = store.count()
            confirm(
                f"drop {dropped} vectors of {recorded} in {store.name!r} and re-create it "
                f"for {space.id}?"
            )
            store.drop()
    with VectorStore.connect(settings, space.id, dim=space.dim):
        pass
    rehydrate, rewrite = SpaceRecord(catalog).reset_for_reindex(space.id)
    log.info("reindexed %s for %s", settings.collection_name, space.id)
    return ReindexResult(settings.collection_name, space.id, dropped, rehydrate, rewrite)
