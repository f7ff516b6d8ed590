"""The product catalog (SQL, the source of truth): products, their vectors, the ingest queue."""

from soko.catalog.database import create_catalog_engine, migrate
from soko.catalog.queue import Claim, IngestQueue, PendingRows
from soko.catalog.repository import (
    Catalog,
    HydrateCandidate,
    ImportResult,
    StoredVectors,
    VectorUpdate,
    utcnow,
)
from soko.catalog.schemas import CatalogCounts, Product, ProductCreate, ProductUpdate

__all__ = [
    "Catalog",
    "CatalogCounts",
    "Claim",
    "HydrateCandidate",
    "ImportResult",
    "IngestQueue",
    "PendingRows",
    "Product",
    "ProductCreate",
    "ProductUpdate",
    "StoredVectors",
    "VectorUpdate",
    "create_catalog_engine",
    "migrate",
    "utcnow",
]
