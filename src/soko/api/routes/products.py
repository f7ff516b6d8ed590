"""Product routes: read one, its image, the category list; writes behind the API key."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, field_validator
from pydantic.json_schema import SkipJsonSchema

from soko.api.deps import SokoDep, WriteAccess
from soko.api.params import ProductId
from soko.api.schemas import DuplicatePublic, error_responses, public_image_url
from soko.api.strict import StrictRoute
from soko.api.thumbnails import thumbnail_path
from soko.catalog import Product, ProductCreate, ProductUpdate
from soko.embedding.images import image_media_type, read_image_bytes
from soko.errors import InvalidImage, ProductImageNotFound

log = logging.getLogger(__name__)

router = APIRouter(route_class=StrictRoute, tags=["products"])
CACHED = {"Cache-Control": "public, max-age=86400"}

ERRORS = error_responses(404, 422)
WRITE_ERRORS = error_responses(401, 403, 404, 409, 422)


NO_LOCAL_FILES = (
    "not accepted over HTTP: give image_url (an http:// or https:// URL); a local "
    "image_path is only for catalog files loaded with `soko import`"
)


def _refuse_over_http(value: object) -> None:
    raise ValueError(NO_LOCAL_FILES)


# A server path in a request would let anyone with the write key read any file through
# the image route; local photos come only from `soko import` (soko.catalog.media).
class ProductCreateBody(ProductCreate):
    """A new product; its image is an http(s) URL."""

    image_path: SkipJsonSchema[None] = None
    _no_image_path = field_validator("image_path", mode="before")(_refuse_over_http)


class ProductUpdateBody(ProductUpdate):
    """A change to some fields (null clears the image URL)."""

    image_path: SkipJsonSchema[None] = None
    _no_image_path = field_validator("image_path", mode="before")(_refuse_over_http)


class ProductPublic(BaseModel):
    product_id: int
    product_name: str
    description: str
    category: str
    price: float
    seller_id: int
    image_url: str
    thumbnail_url: str
    created_at: datetime
    updated_at: datetime
    searchable: bool

    @classmethod
    def from_product(cls, p: Product) -> ProductPublic:
        source = p.image_url or p.image_path or ""
        return cls(
            product_id=p.product_id,
            product_name=p.name,
            description=p.description,
            category=p.category,
            price=p.price,
            seller_id=p.seller_id,
            image_url=public_image_url(p.product_id, source),
            thumbnail_url=public_image_url(p.product_id, source, thumbnail=True),
            created_at=p.created_at,
            updated_at=p.updated_at,
            searchable=p.has_vector and not p.pending,
        )


@router.get("/api/products/{product_id}", responses=ERRORS)
def get_product(soko: SokoDep, product_id: ProductId) -> ProductPublic:
    """One product from the catalog (the source of truth)."""
    return ProductPublic.from_product(soko.catalog.get(product_id))


@router.get(
    "/api/products/{product_id}/image",
    responses={**ERRORS, 307: {"description": "The image is hosted elsewhere"}},
    response_class=Response,
)
def product_image(
    soko: SokoDep,
    product_id: ProductId,
    size: Annotated[str, Query(pattern="^(full|thumb)$")] = "full",
) -> Response:
    """The product's photo (or a small WebP thumbnail), cached by browsers for a day.

    A local photo is served only from the media roots, and only if it decodes as an image
    within the upload limits; otherwise 404 or 422, never the file's bytes."""
    product = soko.catalog.get(product_id)
    if product.image_url:
        return RedirectResponse(product.image_url, status_code=307)
    path = soko.local_image(product)
    if path is None:
        raise ProductImageNotFound(product_id)
    s = soko.settings
    try:
        if size == "thumb":
            return FileResponse(thumbnail_path(path, s), headers=CACHED)
        data = read_image_bytes(path, max_bytes=s.max_image_bytes)
        media_type = image_media_type(data, max_pixels=s.max_image_pixels)
    except InvalidImage as exc:
        log.warning("image of product %d (%s) not served: %s", product_id, path, exc)
        # The stored file is unusable, not the request too large: 422 (not 413), and no path.
        raise InvalidImage(f"the image of product {product_id} cannot be served: {exc}") from None
    return Response(data, media_type=media_type, headers=CACHED)


@router.get("/api/products/{product_id}/duplicates", responses=ERRORS)
def product_duplicates(soko: SokoDep, product_id: ProductId) -> list[DuplicatePublic]:
    """Other listings whose photo is the same picture (re-encoded, resized, cropped, framed),
    best first; [] for a product without a photo."""
    return [DuplicatePublic.from_duplicate(d) for d in soko.duplicates.of_product(product_id)]


@router.get("/api/categories")
def categories(soko: SokoDep) -> list[str]:
    """Categories of live products, for filters."""
    return soko.catalog.categories()


@router.post(
    "/api/products",
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
    dependencies=[WriteAccess],
)
def create_product(soko: SokoDep, product: ProductCreateBody) -> ProductPublic:
    """Add a product; it becomes searchable once hydrated and ingested."""
    return ProductPublic.from_product(soko.catalog.create(product))


@router.patch("/api/products/{product_id}", responses=WRITE_ERRORS, dependencies=[WriteAccess])
def update_product(
    soko: SokoDep, product_id: ProductId, change: ProductUpdateBody
) -> ProductPublic:
    """Change some fields; a new name, description or image re-embeds the product."""
    return ProductPublic.from_product(soko.catalog.update(product_id, change))


@router.delete(
    "/api/products/{product_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
    dependencies=[WriteAccess],
)
def delete_product(soko: SokoDep, product_id: ProductId) -> Response:
    """Remove a product; the ingest worker deletes its vector from Milvus."""
    soko.catalog.delete(product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
