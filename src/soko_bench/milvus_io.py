"""What the benchmarks need of Milvus beyond Soko's public store: bulk loads through the one
write path, and the loaded segments (to wait until compaction and index hand-off are done)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pymilvus import MilvusClient

from soko.config import Settings
from soko.products import ProductBatch
from soko.vectorstore import BatchWriter, VectorStore, WriteBatch, WriteReport


def write_all(
    store: VectorStore,
    batches: Iterable[ProductBatch],
    *,
    concurrency: int,
    on_batch: Callable[[int], None] | None = None,
) -> WriteReport:
    """Upsert every batch, `concurrency` writers at once (one on Milvus Lite)."""
    writers = min(concurrency, store.max_writers)

    def written(batch: WriteBatch) -> None:
        if on_batch is not None:
            on_batch(batch.rows)

    with BatchWriter(store, concurrency=writers) as writer:
        for batch in batches:
            writer.submit(WriteBatch(batch), written)
    return writer.report


@dataclass(frozen=True)
class SegmentInfo:
    """One loaded segment as the query nodes see it (server only)."""

    segment_id: int
    partition_id: int
    rows: int
    indexed: bool


class SegmentWatch:
    """Lists a collection's loaded segments over a connection of its own (pymilvus's public
    `list_loaded_segments`); empty on Milvus Lite, which has no query nodes."""

    def __init__(self, settings: Settings, collection: str) -> None:
        self._collection = collection
        self._client = None if settings.milvus_is_lite else MilvusClient(uri=settings.milvus_uri)

    def segments(self) -> list[SegmentInfo]:
        if self._client is None:
            return []
        return [
            SegmentInfo(
                segment_id=int(info.segment_id),
                partition_id=int(info.partition_id),
                rows=int(info.num_rows),
                indexed=bool(info.index_id) or bool(info.index_name),
            )
            for info in self._client.list_loaded_segments(self._collection)
        ]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
