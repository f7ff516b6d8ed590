"""The application layer: the composition root (`Soko`) and one module per use case.

search, listings (seller tools), duplicates, hydrate, ingest, sync (the one follow/retry
loop), reconcile, reindex, evaluation (eval, eval-suggest, eval-duplicates), health. The faces
(`soko.api`, `soko.cli`) open a `Soko` and call these; these call the infrastructure
(`soko.catalog`, `soko.vectorstore`, `soko.embedding`, `soko.fetch`).
"""

from soko.app.duplicates import Duplicate, DuplicatePair
from soko.app.root import Progress, Soko
from soko.app.search import MAX_LIMIT, SIMILAR_DEFAULT_THRESHOLD, SearchOptions, SearchService

__all__ = [
    "MAX_LIMIT",
    "SIMILAR_DEFAULT_THRESHOLD",
    "Duplicate",
    "DuplicatePair",
    "Progress",
    "SearchOptions",
    "SearchService",
    "Soko",
]
