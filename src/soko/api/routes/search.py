"""Search routes: similar to a product, by photo, by words. Thin: parse, call, shape."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile

from soko.api.deps import ServicesDep
from soko.api.schemas import ProductHit, error_responses
from soko.api.strict import StrictQueryRoute
from soko.embedding import decode_image
from soko.errors import InvalidImage
from soko.search import MAX_LIMIT, SearchOptions
from soko.vectorstore import SearchFilters, SearchHit

router = APIRouter(route_class=StrictQueryRoute, tags=["search"])

ERRORS = error_responses(404, 422, 503)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many products (1-100).")]
Threshold = Annotated[
    float | None, Query(ge=0.0, le=1.0, description="Keep scores >= threshold (0-1).")
]
Category = Annotated[str | None, Query(max_length=64, description="Only this category.")]
MinPrice = Annotated[float | None, Query(ge=0, description="Lowest price.")]
MaxPrice = Annotated[float | None, Query(ge=0, description="Highest price.")]
ExcludeSeller = Annotated[int | None, Query(ge=0, description="Leave out this seller's products.")]
ProductId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Catalog product id.")]

#: The seed's default for "similar products": below 0.5 cosine, results are not similar.
SIMILAR_DEFAULT_THRESHOLD = 0.5


def _filters(
    category: Category = None,
    min_price: MinPrice = None,
    max_price: MaxPrice = None,
    exclude_seller: ExcludeSeller = None,
) -> SearchFilters:
    return SearchFilters(
        category=category or None,
        min_price=min_price,
        max_price=max_price,
        exclude_seller=exclude_seller,
    )


FiltersDep = Annotated[SearchFilters, Depends(_filters)]


def _timed(
    services: ServicesDep, kind: str, hits: list[SearchHit], started: float
) -> list[ProductHit]:
    services.metrics.search_seconds.labels(kind).observe(time.perf_counter() - started)
    return [ProductHit.from_hit(hit) for hit in hits]


@router.get("/api/products/similar/{product_id}", responses=ERRORS)
def similar_products(
    services: ServicesDep,
    product_id: ProductId,
    filters: FiltersDep,
    limit: Limit = 10,
    threshold: Threshold = SIMILAR_DEFAULT_THRESHOLD,
) -> list[ProductHit]:
    """Products most similar to this one (never itself), best first."""
    started = time.perf_counter()
    options = SearchOptions(limit=limit, threshold=threshold, filters=filters)
    vector = services.catalog.hybrid_vector(product_id)
    if vector is None:
        hits = services.search.similar_to_product(product_id, options)
    else:
        hits = services.search.similar_to_vector(vector, product_id, options)
    return _timed(services, "similar", hits, started)


@router.get("/api/search", responses=ERRORS)
def text_search(
    services: ServicesDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Words to search for.")],
    filters: FiltersDep,
    limit: Limit = 10,
    threshold: Threshold = None,
) -> list[ProductHit]:
    """Words in, products out (the text tower against the same vectors)."""
    started = time.perf_counter()
    options = SearchOptions(limit=limit, threshold=threshold, filters=filters)
    return _timed(services, "text", services.search.by_text(q, options), started)


@router.post("/api/search/image", responses=error_responses(413, 422, 503))
def image_search(
    services: ServicesDep,
    image: Annotated[UploadFile, File(description="A product photo (JPEG, PNG, WebP, ...).")],
    text: Annotated[str | None, Form(max_length=500, description="Optional words.")] = None,
    limit: Annotated[int, Form(ge=1, le=MAX_LIMIT)] = 10,
    threshold: Annotated[float | None, Form(ge=0.0, le=1.0)] = None,
    category: Annotated[str | None, Form(max_length=64)] = None,
    min_price: Annotated[float | None, Form(ge=0)] = None,
    max_price: Annotated[float | None, Form(ge=0)] = None,
    exclude_seller: Annotated[int | None, Form(ge=0)] = None,
) -> list[ProductHit]:
    """A new product photo in (optionally with words), similar products out."""
    started = time.perf_counter()
    settings = services.settings
    data = image.file.read(settings.max_image_bytes + 1)
    if not data:
        raise InvalidImage("image: the upload is empty")
    if len(data) > settings.max_image_bytes:
        raise InvalidImage(f"image: larger than {settings.max_image_bytes} bytes")
    picture = decode_image(data, max_pixels=settings.max_image_pixels)
    filters = _filters(category, min_price, max_price, exclude_seller)
    options = SearchOptions(limit=limit, threshold=threshold, filters=filters)
    return _timed(services, "image", services.search.by_image(picture, text, options), started)
