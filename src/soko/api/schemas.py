"""Request and response bodies of the HTTP API (the seed's shapes; docs/architecture.md,
"Contracts")."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from soko.app.duplicates import Duplicate
from soko.app.listings import ListingSuggestion
from soko.products import ProductHit


def public_image_url(product_id: int, image_url: str, *, thumbnail: bool = False) -> str:
    """Remote images are linked as they are; anything else (a local file, which Milvus does
    not record) is served by the API from the catalog."""
    if image_url.startswith(("http://", "https://")):
        return image_url
    return f"/api/products/{product_id}/image" + ("?size=thumb" if thumbnail else "")


class ProductHitPublic(BaseModel):
    """One search result: the product's fields as Milvus holds them, and its score."""

    product_id: int
    product_name: str
    category: str
    price: float
    seller_id: int
    image_url: str
    thumbnail_url: str
    score: float = Field(description="cosine similarity, 1 - d/2 for squared L2 distance d")

    @classmethod
    def from_hit(cls, p: ProductHit) -> ProductHitPublic:
        return cls(
            product_id=p.product_id,
            product_name=p.product_name,
            category=p.category,
            price=round(float(p.price), 2),
            seller_id=p.seller_id,
            image_url=public_image_url(p.product_id, p.image_url),
            thumbnail_url=public_image_url(p.product_id, p.image_url, thumbnail=True),
            score=round(p.score, 6),
        )


class CategorySuggestion(BaseModel):
    category: str
    confidence: float = Field(
        description="the category's share of the similarity-weighted votes of the 10 nearest "
        "catalog photos; measured calibration: suggestions at >= 0.7 were right about 9 times "
        "in 10 on unseen sellers' clothes photos (soko eval-suggest)"
    )


class PriceBandPublic(BaseModel):
    low: float = Field(description="25th percentile")
    median: float
    high: float = Field(description="75th percentile")
    based_on: int = Field(description="priced neighbours in the suggested category it is from")


class DuplicatePublic(BaseModel):
    """A catalog product whose photo is the same picture (re-encoded, resized, framed, lightly
    cropped) as this one's or as the upload's."""

    product_id: int
    score: float
    same_seller: bool
    reason: str

    @classmethod
    def from_duplicate(cls, d: Duplicate) -> DuplicatePublic:
        return cls(
            product_id=d.product_id, score=d.score, same_seller=d.same_seller, reason=d.reason
        )


class ListingSuggestionPublic(BaseModel):
    """Suggestions for a new listing from its photo."""

    categories: list[CategorySuggestion] = Field(description="up to 3, best first")
    price: PriceBandPublic | None = Field(
        description="the nearest products of the top category: their prices' quartiles; null "
        "with fewer than 5 of them"
    )
    similar: list[ProductHitPublic]
    duplicates: list[DuplicatePublic] = Field(
        description="catalog products whose photo is this very picture, `same_seller` true "
        "when the uploading seller listed it (soko eval-duplicates: precision 0.99)"
    )

    @classmethod
    def from_suggestion(cls, s: ListingSuggestion) -> ListingSuggestionPublic:
        price = s.price
        return cls(
            categories=[
                CategorySuggestion(category=c.category, confidence=c.confidence)
                for c in s.categories
            ],
            price=None
            if price is None
            else PriceBandPublic(
                low=price.low, median=price.median, high=price.high, based_on=price.based_on
            ),
            similar=[ProductHitPublic.from_hit(hit) for hit in s.similar],
            duplicates=[DuplicatePublic.from_duplicate(d) for d in s.duplicates],
        )


class ErrorBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"error": "Product not found"}})
    error: str


Responses = dict[int | str, dict[str, Any]]


def error_responses(*codes: int) -> Responses:
    """OpenAPI entries for the error statuses a route can answer, all `{"error": ...}`."""
    return {code: {"model": ErrorBody, "description": ERROR_MEANINGS[code]} for code in codes}


ERROR_MEANINGS = {
    401: "No API key sent",
    403: "Writes disabled, or wrong API key",
    404: "Product not found",
    409: "A product with this id exists",
    413: "Upload over the byte or pixel limit",
    422: "A parameter or field is invalid (the message names it)",
    503: "Milvus or the catalog is unreachable",
}
