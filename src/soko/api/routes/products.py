"""Product routes: read one, its image, the category list; writes behind the API key."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel

from soko.api.deps import SokoDep, WriteAccess
from soko.api.params import ProductId
from soko.api.schemas import error_responses, public_image_url
from soko.api.strict import StrictRoute
from soko.api.thumbnails import thumbnail_path
from soko.catalog import Product, ProductCreate, ProductUpdate
from soko.errors import ProductNotFound

router = APIRouter(route_class=StrictRoute, tags=["products"])

ERRORS = error_responses(404, 422)
WRITE_ERRORS = error_responses(401, 403, 404, 409, 422)


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
    """The product's photo (or a small WebP thumbnail), cached by browsers for a day."""
    product = soko.catalog.get(product_id)
    if product.image_url:
        return RedirectResponse(product.image_url, status_code=307)
    if not product.image_path or not FilePath(product.image_path).is_file():
        raise ProductNotFound(product_id)
    source = FilePath(product.image_path)
    path = thumbnail_path(source, soko.settings) if size == "thumb" else source
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


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
def create_product(soko: SokoDep, product: ProductCreate) -> ProductPublic:
    """Add a product; it becomes searchable once hydrated and ingested."""
    return ProductPublic.from_product(soko.catalog.create(product))


@router.patch("/api/products/{product_id}", responses=WRITE_ERRORS, dependencies=[WriteAccess])
def update_product(soko: SokoDep, product_id: ProductId, change: ProductUpdate) -> ProductPublic:
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
