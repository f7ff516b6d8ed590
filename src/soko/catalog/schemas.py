"""What goes into and comes out of the catalog: `ProductCreate`, `ProductUpdate`, `Product`.

The same validation serves `soko import` and the HTTP API, so a row the importer accepts
is one the API would accept too. Image URLs follow the fetcher's own rules
(`soko.fetch.url_refusal`), so a URL accepted here is never one the fetcher cannot even
try. Categories are limited to 64 UTF-8 bytes because that is
the Milvus field's size: cutting them would silently merge categories.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from soko.catalog.models import DESCRIPTION_MAX_CHARS, IMAGE_SOURCE_MAX_CHARS, NAME_MAX_CHARS
from soko.fetch import url_refusal
from soko.logs import redact
from soko.products import CATEGORY_MAX_BYTES, INT64_MAX

ProductId = Annotated[int, Field(ge=1, le=INT64_MAX)]
SellerId = Annotated[int, Field(ge=0, le=INT64_MAX)]
#: Far above any real price; rejects typos such as a pasted phone number.
PRICE_MAX = 1e12


def _name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > NAME_MAX_CHARS:
        raise ValueError(f"must be at most {NAME_MAX_CHARS} characters")
    return value


def _description(value: str) -> str:
    value = value.strip()
    if len(value) > DESCRIPTION_MAX_CHARS:
        raise ValueError(f"must be at most {DESCRIPTION_MAX_CHARS} characters")
    return value


def _category(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    size = len(value.encode("utf-8"))
    if size > CATEGORY_MAX_BYTES:
        raise ValueError(f"must be at most {CATEGORY_MAX_BYTES} UTF-8 bytes (has {size})")
    if any(ord(ch) < 32 for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _price(value: float) -> float:
    if not math.isfinite(value) or value < 0 or value > PRICE_MAX:
        raise ValueError(f"must be a number between 0 and {PRICE_MAX:g}")
    return value


def _image_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > IMAGE_SOURCE_MAX_CHARS:
        raise ValueError(f"must be at most {IMAGE_SOURCE_MAX_CHARS} characters")
    why = url_refusal(value)
    if why:
        raise ValueError(why)
    return value


def _image_path(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > IMAGE_SOURCE_MAX_CHARS:
        raise ValueError(f"must be at most {IMAGE_SOURCE_MAX_CHARS} characters")
    if "\x00" in value:
        raise ValueError("must not contain NUL")
    return value


class ProductCreate(BaseModel):
    """A new product (or, for `soko import`, the full state of one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product_id: ProductId
    name: str
    description: str = ""
    category: str
    price: float
    seller_id: SellerId
    image_url: str | None = None
    image_path: str | None = None

    _check_name = field_validator("name")(_name)
    _check_description = field_validator("description")(_description)
    _check_category = field_validator("category")(_category)
    _check_price = field_validator("price")(_price)
    _check_image_url = field_validator("image_url")(_image_url)
    _check_image_path = field_validator("image_path")(_image_path)

    @model_validator(mode="after")
    def _one_image_source(self) -> ProductCreate:
        if self.image_url and self.image_path:
            raise ValueError("give image_url or image_path, not both")
        return self


class ProductUpdate(BaseModel):
    """A partial change: only the fields given are changed (null clears an image source)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    description: str | None = None
    category: str | None = None
    price: float | None = None
    seller_id: SellerId | None = None
    image_url: str | None = None
    image_path: str | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        return None if value is None else _name(value)

    @field_validator("description")
    @classmethod
    def _check_description(cls, value: str | None) -> str | None:
        return None if value is None else _description(value)

    @field_validator("category")
    @classmethod
    def _check_category(cls, value: str | None) -> str | None:
        return None if value is None else _category(value)

    @field_validator("price")
    @classmethod
    def _check_price(cls, value: float | None) -> float | None:
        return None if value is None else _price(value)

    _check_image_url = field_validator("image_url")(_image_url)
    _check_image_path = field_validator("image_path")(_image_path)

    @model_validator(mode="after")
    def _not_null_where_required(self) -> ProductUpdate:
        for name in ("name", "category", "price", "seller_id", "description"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} must not be null")
        if self.image_url and self.image_path:
            raise ValueError("give image_url or image_path, not both")
        return self

    def changes(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.model_fields_set}


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field and why, e.g. `price: must be a number ... (got 'x')`."""
    parts = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        got = error.get("input")
        if isinstance(got, str):
            got = redact(got)
        shown = f" (got {got!r})" if isinstance(got, str | int | float) and loc else ""
        if len(shown) > 80:
            shown = shown[:77] + "...)"
        parts.append(f"{loc}: {message}{shown}" if loc else message)
    return "; ".join(parts)


@dataclass(frozen=True)
class Product:
    """A product as the catalog holds it (without its vectors)."""

    product_id: int
    name: str
    description: str
    category: str
    price: float
    seller_id: int
    image_url: str | None
    image_path: str | None
    created_at: datetime
    updated_at: datetime
    deleted: bool
    version: int
    written_version: int | None
    has_vector: bool
    last_hydrated_at: datetime | None
    hydrate_error: str | None
    hydrate_attempts: int
    next_hydrate_at: datetime | None

    @property
    def pending(self) -> bool:
        """Whether the ingest worker still has to write (or delete) this product in Milvus."""
        return self.written_version != self.version and (self.deleted or self.has_vector)


@dataclass(frozen=True)
class CatalogCounts:
    total: int
    active: int
    deleted: int
    pending: int
    unhydrated: int
    hydrate_errors: int
