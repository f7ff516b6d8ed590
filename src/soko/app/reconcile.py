"""`soko reconcile`: compare the catalog with Milvus and repair drift both ways.

Drift that can happen despite compare-and-set (Milvus restored from an older backup, a
collection dropped by hand, a catalog restored, rows written by another tool):

- missing: the catalog says Milvus holds the row, Milvus does not -> made pending again;
- stale: Milvus holds another `last_hydrated_at` than the catalog's -> made pending again;
- deleted: Milvus holds a product the catalog has deleted -> deleted from Milvus;
- unknown: Milvus holds an id the catalog has never seen -> deleted from Milvus.

Milvus is read first and the catalog second. A worker running meanwhile can only write rows
the catalog already has, so nothing it writes is taken for unknown; the worst a race does is
make a row pending that was fine, which costs one extra write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from soko.catalog import Catalog, IngestQueue
from soko.vectorstore import VectorStore

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    catalog_rows: int = 0
    milvus_rows: int = 0
    missing: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    applied: bool = False

    @property
    def drift(self) -> int:
        return len(self.missing) + len(self.stale) + len(self.deleted) + len(self.unknown)


def reconcile(catalog: Catalog, store: VectorStore, *, dry_run: bool = False) -> ReconcileReport:
    """Find drift between the catalog and the collection; repair it unless dry_run."""
    report = ReconcileReport()
    in_milvus: dict[int, int] = {}
    for product_id, hydrated_at in store.iter_versions():
        in_milvus[product_id] = hydrated_at
    report.milvus_rows = len(in_milvus)
    queue = IngestQueue(catalog)
    for product_id, expected, deleted, hydrated_at in queue.iter_states():
        report.catalog_rows += 1
        held = in_milvus.pop(product_id, None)
        if deleted:
            if held is not None:
                report.deleted.append(product_id)
        elif expected and held is None:
            report.missing.append(product_id)
        elif expected and held != hydrated_at:
            report.stale.append(product_id)
    report.unknown = sorted(in_milvus)
    if dry_run or not report.drift:
        return report
    if report.missing or report.stale:
        queue.mark_unwritten(report.missing + report.stale)
    gone = report.deleted + report.unknown
    for start in range(0, len(gone), 1000):
        store.delete(gone[start : start + 1000])
    report.applied = True
    log.info(
        "reconciled: %d missing, %d stale made pending; %d deleted, %d unknown removed",
        len(report.missing),
        len(report.stale),
        len(report.deleted),
        len(report.unknown),
    )
    return report
