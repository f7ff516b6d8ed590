"""Request parameters shared by several routes, each declared once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, UploadFile
from PIL import Image

from soko.app import MAX_LIMIT
from soko.config import Settings
from soko.embedding import decode_image
from soko.errors import InvalidImage
from soko.products import CATEGORY_MAX_BYTES, INT64_MAX
from soko.vectorstore import SearchFilters

ProductId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Catalog product id.")]

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many products (1-100).")]
Threshold = Annotated[
    float | None, Query(ge=0.0, le=1.0, description="Keep scores >= threshold (0-1).")
]
Category = Annotated[
    str | None, Query(max_length=CATEGORY_MAX_BYTES, description="Only this category.")
]
MinPrice = Annotated[float | None, Query(ge=0, description="Lowest price.")]
MaxPrice = Annotated[float | None, Query(ge=0, description="Highest price.")]
ExcludeSeller = Annotated[int | None, Query(ge=0, description="Leave out this seller's products.")]
ImageWeight = Annotated[
    float | None,
    Query(
        ge=0, le=1000, description="Weight of the photo in the query (default: the collection's)."
    ),
]
TextWeight = Annotated[
    float | None,
    Query(
        ge=0, le=1000, description="Weight of the text in the query (default: the collection's)."
    ),
]


def search_filters(
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


FiltersDep = Annotated[SearchFilters, Depends(search_filters)]


def uploaded_image(image: UploadFile, settings: Settings) -> Image.Image:
    """The uploaded photo, read up to the byte limit and decoded under the pixel limit
    (empty or too large: InvalidImage naming the `image` field; ImageTooLarge is a 413)."""
    data = image.file.read(settings.max_image_bytes + 1)
    if not data:
        raise InvalidImage("image: the upload is empty")
    if len(data) > settings.max_image_bytes:
        raise InvalidImage(f"image: larger than {settings.max_image_bytes} bytes")
    return decode_image(data, max_pixels=settings.max_image_pixels)
