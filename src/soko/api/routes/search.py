"""Search routes: similar to a product, by photo, by words. Thin: parse, call, shape."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile

from soko.api.deps import StateDep
from soko.api.params import (
    FiltersDep,
    ImageWeight,
    Limit,
    ProductId,
    TextWeight,
    Threshold,
    search_filters,
    uploaded_image,
)
from soko.api.schemas import ProductHitPublic, error_responses
from soko.api.strict import StrictRoute
from soko.app import MAX_LIMIT, SIMILAR_DEFAULT_THRESHOLD, SearchOptions
from soko.products import CATEGORY_MAX_BYTES, ProductHit

router = APIRouter(route_class=StrictRoute, tags=["search"])

ERRORS = error_responses(404, 422, 503)


def _timed(
    state: StateDep, kind: str, hits: list[ProductHit], started: float
) -> list[ProductHitPublic]:
    state.metrics.search_seconds.labels(kind).observe(time.perf_counter() - started)
    return [ProductHitPublic.from_hit(hit) for hit in hits]


@router.get("/api/products/similar/{product_id}", responses=ERRORS)
def similar_products(
    state: StateDep,
    product_id: ProductId,
    filters: FiltersDep,
    limit: Limit = 10,
    threshold: Threshold = SIMILAR_DEFAULT_THRESHOLD,
    image_weight: ImageWeight = None,
    text_weight: TextWeight = None,
) -> list[ProductHitPublic]:
    """Products most similar to this one (never itself), best first. `image_weight` and
    `text_weight` re-weight the product's photo and text in the query."""
    started = time.perf_counter()
    options = SearchOptions(
        limit=limit,
        threshold=threshold,
        filters=filters,
        image_weight=image_weight,
        text_weight=text_weight,
    )
    return _timed(
        state, "similar", state.soko.search.similar_to_product(product_id, options), started
    )


@router.get("/api/search", responses=ERRORS)
def text_search(
    state: StateDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Words to search for.")],
    filters: FiltersDep,
    limit: Limit = 10,
    threshold: Threshold = None,
) -> list[ProductHitPublic]:
    """Words in, products out (the text tower against the same vectors)."""
    started = time.perf_counter()
    options = SearchOptions(limit=limit, threshold=threshold, filters=filters)
    return _timed(state, "text", state.soko.search.by_text(q, options), started)


@router.post("/api/search/image", responses=error_responses(413, 422, 503))
def image_search(
    state: StateDep,
    image: Annotated[UploadFile, File(description="A product photo (JPEG, PNG, WebP, ...).")],
    text: Annotated[str | None, Form(max_length=500, description="Optional words.")] = None,
    limit: Annotated[int, Form(ge=1, le=MAX_LIMIT)] = 10,
    threshold: Annotated[float | None, Form(ge=0.0, le=1.0)] = None,
    category: Annotated[str | None, Form(max_length=CATEGORY_MAX_BYTES)] = None,
    min_price: Annotated[float | None, Form(ge=0)] = None,
    max_price: Annotated[float | None, Form(ge=0)] = None,
    exclude_seller: Annotated[int | None, Form(ge=0)] = None,
    image_weight: Annotated[float | None, Form(ge=0, le=1000)] = None,
    text_weight: Annotated[float | None, Form(ge=0, le=1000)] = None,
) -> list[ProductHitPublic]:
    """A new product photo in (optionally with words), similar products out."""
    started = time.perf_counter()
    picture = uploaded_image(image, state.soko.settings)
    filters = search_filters(category, min_price, max_price, exclude_seller)
    options = SearchOptions(
        limit=limit,
        threshold=threshold,
        filters=filters,
        image_weight=image_weight,
        text_weight=text_weight,
    )
    return _timed(state, "image", state.soko.search.by_image(picture, text, options), started)
