"""The Milvus vector store: schema, the one write path, search and health, on Milvus Lite or
a server (the differences live in `backends.py`, chosen once at connect)."""

import pymilvus  # noqa: F401  (first: its import configures its own loggers, undone below)

from soko.logs import quiet_translated_loggers
from soko.vectorstore.filters import SearchFilters
from soko.vectorstore.schema import CollectionSpec
from soko.vectorstore.scores import distance_to_score
from soko.vectorstore.server import LocalMilvusServer, free_port, server_supported
from soko.vectorstore.store import StoreStats, VectorStore, WriteTiming
from soko.vectorstore.writes import BatchWriter, WriteBatch, WriteReport

quiet_translated_loggers()

__all__ = [
    "BatchWriter",
    "CollectionSpec",
    "LocalMilvusServer",
    "SearchFilters",
    "StoreStats",
    "VectorStore",
    "WriteBatch",
    "WriteReport",
    "WriteTiming",
    "distance_to_score",
    "free_port",
    "server_supported",
]
