"""Seller tools: suggestions for a new listing from its photo (category, price band, similar).

A seller uploads a photo (and maybe a draft title). The photo is searched against the
catalog, and:

- **categories**: the 10 nearest catalog products by photo vote for their categories, each
  vote weighted by its similarity; a category's confidence is its share of the votes. The
  draft text does not vote: the confidences are calibrated on photo-only votes (measured
  with `soko eval-suggest`), and no labelled data with real sellers' titles
  exists to calibrate a text vote on (the demo catalog's texts are generated from its
  categories, which would make such a measurement circular).
- **price**: the quartiles of the prices of the 20 nearest products in the top category
  (at least 5 priced ones, else no band).
- **similar**: what `/api/search/image` answers for the photo and the draft text.

With a `seller_id`, the seller's own products are left out of all three: the seller wants the
market's view, their own past photos share a background (which votes by room, not product)
and their own prices would pull the band toward themselves. `soko eval-suggest --apart
seller_id` measures exactly that situation.

The vote and the band are plain functions so that the evaluation computes them the same way.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from soko.app.duplicates import Duplicate, DuplicateFinder
from soko.app.search import SearchOptions, SearchService
from soko.products import ProductHit
from soko.vectorstore import SearchFilters

log = logging.getLogger(__name__)

#: Nearest catalog photos that vote for a category (the issue's measured setting).
VOTE_NEIGHBOURS = 10
#: Categories suggested at most, best first.
MAX_CATEGORIES = 3
#: Nearest products of the suggested category whose prices make the band.
PRICE_NEIGHBOURS = 20
#: Fewer priced neighbours than this: no band (quartiles of 3 prices say little).
MIN_PRICE_NEIGHBOURS = 5


@dataclass(frozen=True)
class CategoryVote:
    category: str
    #: The category's share of the similarity-weighted votes, in (0, 1].
    confidence: float


@dataclass(frozen=True)
class PriceBand:
    low: float
    median: float
    high: float
    based_on: int


@dataclass(frozen=True)
class ListingSuggestion:
    categories: list[CategoryVote]
    price: PriceBand | None
    similar: list[ProductHit]
    #: Catalog products whose photo is this very picture (the seller's own included).
    duplicates: list[Duplicate]


def vote_categories(
    categories: Sequence[str], scores: Sequence[float], *, top: int = MAX_CATEGORIES
) -> list[CategoryVote]:
    """Similarity-weighted vote of the neighbours (best first; ties by first appearance).

    A neighbour's weight is its score (the cosine, clipped at 0): linear, so the shares do not
    change when an embedder scales every score by the same factor (effnet-minilm's photo
    query against hybrid vectors scores 0.832 x the image cosine).
    """
    weights: dict[str, float] = defaultdict(float)
    for category, score in zip(categories, scores, strict=True):
        weights[category] += max(float(score), 0.0)
    total = sum(weights.values())
    if total <= 0:
        return []
    ranked = sorted(weights.items(), key=lambda item: -item[1])  # stable: first seen wins
    return [CategoryVote(c, round(w / total, 4)) for c, w in ranked[:top] if w > 0]


def price_band(prices: Sequence[float], *, minimum: int = MIN_PRICE_NEIGHBOURS) -> PriceBand | None:
    """25th, 50th and 75th percentile of the positive prices (None with fewer than `minimum`).

    A price of 0 or less is not a price (free or "ask"), so it does not count."""
    values = np.array([p for p in prices if p > 0], dtype=np.float64)
    if len(values) < max(minimum, 1):
        return None
    low, median, high = np.percentile(values, [25, 50, 75])
    return PriceBand(
        round(float(low), 2), round(float(median), 2), round(float(high), 2), len(values)
    )


class ListingAdvisor:
    """Suggestions for a new listing, over the search service's collection and embedder."""

    def __init__(self, search: SearchService, duplicates: DuplicateFinder) -> None:
        self.search = search
        self.duplicates = duplicates

    def suggest(
        self,
        image: Image.Image,
        text: str | None = None,
        *,
        seller_id: int | None = None,
        limit: int = 10,
    ) -> ListingSuggestion:
        search = self.search
        others = SearchFilters(exclude_seller=seller_id)
        similar_options = SearchOptions(limit=limit, filters=others)  # validates limit
        photo = search.embedder.encode_images([image])
        photo_query = search.space.fuse(photo, None)[0]
        voters = search.by_vector(
            photo_query, SearchOptions(limit=max(VOTE_NEIGHBOURS, limit), filters=others)
        )
        categories = vote_categories(
            [hit.category for hit in voters[:VOTE_NEIGHBOURS]],
            [hit.score for hit in voters[:VOTE_NEIGHBOURS]],
        )
        band = None
        if categories:
            in_category = search.by_vector(
                photo_query,
                SearchOptions(
                    limit=PRICE_NEIGHBOURS,
                    filters=replace(others, category=categories[0].category),
                ),
            )
            band = price_band([hit.price for hit in in_category])
        if text is not None and text.strip():
            words = search.embedder.encode_texts([text.strip()])
            similar = search.by_vector(search.space.fuse(photo, words)[0], similar_options)
        else:
            similar = voters[:limit]
        log.debug("suggested %s from %d neighbours", categories[:1], len(voters))
        return ListingSuggestion(
            categories,
            band,
            similar,
            self.duplicates.of_upload(image, seller_id, image_vector=photo[0]),
        )
