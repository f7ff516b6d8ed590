"""Search: similar to a product, by photo, by words. Scores as docs/scores.md defines them.

Routes and the CLI call this; it reads the catalog and the vector store and runs the
embedder, never pymilvus or SQL itself.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from soko.catalog import Catalog
from soko.embedding import Embedder, VectorSpace
from soko.errors import InvalidInput, ProductNotFound
from soko.products import ProductHit
from soko.vectorstore import SearchFilters, VectorStore

log = logging.getLogger(__name__)

#: Results one search may ask for.
MAX_LIMIT = 100
#: The seed's default for "similar products": below 0.5 cosine, results are not similar.
SIMILAR_DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class SearchOptions:
    """What every search takes besides its query: how many, how close, which products, and
    how the query's image and text are weighted (None: the collection's fusion weights)."""

    limit: int = 10
    threshold: float | None = None
    filters: SearchFilters = field(default_factory=SearchFilters)
    image_weight: float | None = None
    text_weight: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise InvalidInput("threshold must be between 0 and 1", field="threshold")
        for name in ("image_weight", "text_weight"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise InvalidInput(f"{name} must be a number >= 0", field=name)
        if self.image_weight == 0 and self.text_weight == 0:
            raise InvalidInput("image_weight and text_weight must not both be 0", field="weights")

    @property
    def reweighted(self) -> bool:
        return self.image_weight is not None or self.text_weight is not None

    def query_space(self, space: VectorSpace) -> VectorSpace:
        """The space's fusion with this query's weights (the space's where not given)."""
        if not self.reweighted:
            return space
        return replace(
            space,
            image_weight=space.image_weight if self.image_weight is None else self.image_weight,
            text_weight=space.text_weight if self.text_weight is None else self.text_weight,
        )


class SearchService:
    """The three searches over one collection, with the embedder and space that made it."""

    def __init__(
        self, catalog: Catalog, store: VectorStore, embedder: Embedder, space: VectorSpace
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.embedder = embedder
        self.space = space

    def similar_to_product(
        self, product_id: int, options: SearchOptions = SearchOptions()
    ) -> list[ProductHit]:
        """Products closest to this one's hybrid vector; never the product itself.

        The catalog (the source of truth, one indexed read) gives the vector; a product not
        hydrated there yet is looked up in Milvus. Unknown or deleted: ProductNotFound. With
        query weights, the product's image and text vectors are fused again with them
        (docs/embedding.md says what that does to scores).
        """
        if options.reweighted:
            return self._similar_reweighted(product_id, options)
        vector = self.catalog.hybrid_vector(product_id)
        if vector is None:
            stored = self.store.get(product_id, with_vector=True)
            if stored is None or stored.embedding is None:
                raise ProductNotFound(product_id)
            vector = stored.embedding
        return self.similar_to_vector(vector, product_id, options)

    def _similar_reweighted(self, product_id: int, options: SearchOptions) -> list[ProductHit]:
        stored = self.catalog.vectors(product_id, live=True)
        if stored.image is None and stored.text is None:
            return self.similar_to_product(
                product_id, replace(options, image_weight=None, text_weight=None)
            )
        image = None if stored.image is None else stored.image[None, :]
        text = None if stored.text is None else stored.text[None, :]
        query = options.query_space(self.space).fuse(image, text)[0]
        return self.similar_to_vector(query, product_id, options)

    def similar_to_vector(
        self, vector: np.ndarray, product_id: int, options: SearchOptions = SearchOptions()
    ) -> list[ProductHit]:
        """Products closest to `vector` (product_id's own), the product itself excluded.

        The exclusion goes into the Milvus filter rather than asking for limit + 1, so a
        product with exact duplicates still never sees itself.
        """
        excluded = (*options.filters.exclude_ids, int(product_id))
        filters = replace(options.filters, exclude_ids=excluded)
        return self._search(vector, replace(options, filters=filters))

    def by_image(
        self, image: Image.Image, text: str | None = None, options: SearchOptions = SearchOptions()
    ) -> list[ProductHit]:
        """A new photo (optionally with words), fused as the catalog's products are."""
        image_vector = self.embedder.encode_images([image])
        text_vector = None
        if text is not None and text.strip():
            text_vector = self.embedder.encode_texts([text.strip()])
        query = options.query_space(self.space).fuse(image_vector, text_vector)
        return self._search(query[0], options)

    def by_text(self, text: str, options: SearchOptions = SearchOptions()) -> list[ProductHit]:
        """Words against the same vectors, through the embedder's text tower."""
        if not text or not text.strip():
            raise InvalidInput("the query text is empty", field="q")
        query = self.embedder.encode_texts([text.strip()])
        return self._search(query[0], options)

    def by_vector(
        self, vector: np.ndarray, options: SearchOptions = SearchOptions()
    ) -> list[ProductHit]:
        """A query vector of this space (already fused) against the collection."""
        return self._search(vector, options)

    def _search(self, vector: np.ndarray, options: SearchOptions) -> list[ProductHit]:
        hits = self.store.search(
            vector, limit=options.limit, threshold=options.threshold, filters=options.filters
        )[0]
        log.debug("search returned %d hits", len(hits))
        return hits
