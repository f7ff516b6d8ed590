"""The product catalog (SQL, the source of truth), one module per concept:

- `products`: the `Catalog` (its database and its products: reads, writes, imports);
- `importer`: catalog files (CSV, JSON Lines) validated row by row;
- `hydrate_queue`: products that need vectors, and the compare-and-set write of them;
- `ingest_queue`: products whose vectors Milvus lacks, claimed in batches, marked by
  compare-and-set;
- `space`: which vector space the stored vectors belong to;
- `photos`: photo prints (image vector, perceptual hash, seller) for duplicate checks;
- `media`: the media roots local photos must be inside, checked at import and when served;
- `vectors`: the vector blobs; `models`, `schemas`, `database`: tables, shapes, engines.
"""

from soko.catalog.database import create_catalog_engine, migrate
from soko.catalog.hydrate_queue import (
    HydrateCandidate,
    HydrateFailure,
    HydrateFailures,
    HydrateQueue,
    VectorUpdate,
)
from soko.catalog.importer import ImportReport, import_file
from soko.catalog.ingest_queue import Claim, ClaimedRows, IngestQueue
from soko.catalog.media import MediaRoots, servable
from soko.catalog.photos import PhotoPrint, count_photo_prints, iter_photo_prints, photo_prints
from soko.catalog.products import Catalog, ImportResult, utcnow
from soko.catalog.schemas import CatalogCounts, Product, ProductCreate, ProductUpdate
from soko.catalog.space import SpaceRecord
from soko.catalog.vectors import StoredVectors

__all__ = [
    "Catalog",
    "CatalogCounts",
    "Claim",
    "ClaimedRows",
    "HydrateCandidate",
    "HydrateFailure",
    "HydrateFailures",
    "HydrateQueue",
    "ImportReport",
    "ImportResult",
    "IngestQueue",
    "MediaRoots",
    "PhotoPrint",
    "Product",
    "ProductCreate",
    "ProductUpdate",
    "SpaceRecord",
    "StoredVectors",
    "VectorUpdate",
    "count_photo_prints",
    "create_catalog_engine",
    "import_file",
    "iter_photo_prints",
    "migrate",
    "photo_prints",
    "servable",
    "utcnow",
]
