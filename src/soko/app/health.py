"""Health: what `GET /health` and `soko health` report, gathered in one place.

Each part is read on its own; a part that fails is reported as unavailable with its error
instead of hiding the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from soko.app.sync import SyncStatus
from soko.catalog import CatalogCounts
from soko.errors import SokoError
from soko.vectorstore import StoreStats


@dataclass(frozen=True)
class Health:
    collection: str
    milvus: StoreStats | SokoError
    catalog: CatalogCounts | SokoError
    #: The running vector space's id, why the embedder does not load, or None when it was
    #: not loaded because Milvus is unreachable anyway.
    space: str | SokoError | None
    sync: SyncStatus | None

    @property
    def ok(self) -> bool:
        return not any(
            isinstance(part, SokoError) for part in (self.milvus, self.catalog, self.space)
        )
