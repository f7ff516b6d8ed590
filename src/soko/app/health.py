"""Health: what `GET /health` and `soko health` report, gathered in one place.

Each part is read on its own; a part that fails is reported as unavailable with its error
instead of hiding the others. Degraded (`ok` false, /health 503) when a part is unavailable
or the background sync's rounds are failing. Products whose hydration failed are reported
(a count and a few examples) without degrading: each is its own product's problem.
"""

from __future__ import annotations

from dataclasses import dataclass

from soko.app.sync import SyncStatus
from soko.catalog import CatalogCounts, HydrateFailures
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
    #: Live products whose last hydration failed (None when the catalog is unavailable).
    failures: HydrateFailures | None = None

    @property
    def ok(self) -> bool:
        if self.sync is not None and self.sync.failing:
            return False
        return not any(
            isinstance(part, SokoError) for part in (self.milvus, self.catalog, self.space)
        )
