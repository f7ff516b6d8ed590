"""Search: similar to a product, by photo, by words. Scores as DESIGN.md defines them.

Routes and the CLI call this; it calls the vector store and the embedder, never pymilvus.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from soko.embedding import Embedder, fuse
from soko.errors import InvalidInput, ProductNotFound
from soko.vectorstore import SearchFilters, SearchHit, VectorStore

log = logging.getLogger(__name__)

MAX_LIMIT = 100


@dataclass(frozen=True)
class SearchOptions:
    """What every search takes besides its query: how many, how close, which products."""

    limit: int = 10
    threshold: float | None = None
    filters: SearchFilters = field(default_factory=SearchFilters)

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise InvalidInput("threshold must be between 0 and 1", field="threshold")


class SearchService:
    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        *,
        image_weight: float = 0.6,
        text_weight: float = 0.4,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.image_weight = image_weight
        self.text_weight = text_weight

    def similar_to_product(
        self, product_id: int, options: SearchOptions = SearchOptions()
    ) -> list[SearchHit]:
        """Products closest to this one's hybrid vector in Milvus; never the product itself."""
        stored = self.store.get(product_id, with_vector=True)
        if stored is None or stored.embedding is None:
            raise ProductNotFound(product_id)
        return self.similar_to_vector(stored.embedding, product_id, options)

    def similar_to_vector(
        self, vector: np.ndarray, product_id: int, options: SearchOptions = SearchOptions()
    ) -> list[SearchHit]:
        """Products closest to `vector` (product_id's own), the product itself excluded.

        The exclusion goes into the Milvus filter rather than asking for limit + 1, so a
        product with exact duplicates still never sees itself.
        """
        excluded = (*options.filters.exclude_ids, int(product_id))
        filters = replace(options.filters, exclude_ids=excluded)
        return self._search(vector, replace(options, filters=filters))

    def by_image(
        self, image: Image.Image, text: str | None = None, options: SearchOptions = SearchOptions()
    ) -> list[SearchHit]:
        """A new photo (optionally with words), fused with the catalog's weights."""
        image_vector = self.embedder.encode_images([image])
        text_vector = None
        if text is not None and text.strip():
            text_vector = self.embedder.encode_texts([text.strip()])
        query = fuse(image_vector, text_vector, self.image_weight, self.text_weight)
        return self._search(query[0], options)

    def by_text(self, text: str, options: SearchOptions = SearchOptions()) -> list[SearchHit]:
        """Words against the same vectors, through the embedder's text tower."""
        if not text or not text.strip():
            raise InvalidInput("the query text is empty", field="q")
        query = self.embedder.encode_texts([text.strip()])
        return self._search(query[0], options)

    def _search(self, vector: np.ndarray, options: SearchOptions) -> list[SearchHit]:
        hits = self.store.search(
            vector, limit=options.limit, threshold=options.threshold, filters=options.filters
        )[0]
        log.debug("search returned %d hits", len(hits))
        return hits
