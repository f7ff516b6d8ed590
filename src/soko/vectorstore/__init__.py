"""The Milvus vector store: schema, writes, search and health, on Milvus Lite or a server."""

from soko.vectorstore.batch import ProductVectors
from soko.vectorstore.filters import SearchFilters
from soko.vectorstore.schema import DIM, CollectionSpec, truncate_utf8
from soko.vectorstore.scores import distance_to_score
from soko.vectorstore.store import (
    SearchHit,
    SegmentInfo,
    StoredProduct,
    StoreStats,
    VectorStore,
    WriteTiming,
)
from soko.vectorstore.writes import WriteReport, write_batches

__all__ = [
    "DIM",
    "CollectionSpec",
    "ProductVectors",
    "SearchFilters",
    "SearchHit",
    "SegmentInfo",
    "StoreStats",
    "StoredProduct",
    "VectorStore",
    "WriteReport",
    "WriteTiming",
    "distance_to_score",
    "truncate_utf8",
    "write_batches",
]
