"""Validation shared by `soko import` and the API: what a product row may hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from soko.catalog import ProductCreate, ProductUpdate
from soko.catalog.schemas import describe_validation_error

VALID = {"product_id": 1, "name": "Kiatu", "category": "shoes", "price": 10, "seller_id": 2}


def error_for(**changes: object) -> str:
    with pytest.raises(ValidationError) as info:
        ProductCreate.model_validate({**VALID, **changes})
    return describe_validation_error(info.value)


@given(st.text(min_size=1, max_size=80).filter(lambda s: s.strip() == s and s.isprintable()))
def test_categories_are_accepted_exactly_up_to_64_utf8_bytes(category: str) -> None:
    if len(category.encode("utf-8")) <= 64:
        assert ProductCreate.model_validate({**VALID, "category": category}).category == category
    else:
        with pytest.raises(ValidationError, match="64 UTF-8 bytes"):
            ProductCreate.model_validate({**VALID, "category": category})


def test_a_multibyte_category_is_measured_in_bytes_not_characters() -> None:
    assert ProductCreate.model_validate({**VALID, "category": "é" * 32}).category == "é" * 32
    assert "has 66" in error_for(category="é" * 33)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"product_id": 0}, "product_id: Input should be greater than or equal to 1"),
        ({"product_id": 2**63}, "product_id: Input should be less than or equal to"),
        ({"product_id": "12a"}, "product_id: Input should be a valid integer"),
        ({"name": "   "}, "name: must not be empty"),
        ({"price": -1}, "price: must be a number between 0"),
        ({"price": "nan"}, "price: must be a number between 0"),
        ({"price": "inf"}, "price: must be a number between 0"),
        ({"seller_id": -4}, "seller_id: Input should be greater than or equal to 0"),
        ({"image_url": "javascript:alert(1)"}, "image_url: must be an http:// or https:// URL"),
        ({"image_url": "http://"}, "image_url: must be an http:// or https:// URL"),
        ({"category": "a\nb"}, "category: must not contain control characters"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        (
            {"image_url": "https://x.example/a.jpg", "image_path": "a.jpg"},
            "give image_url or image_path, not both",
        ),
    ],
)
def test_bad_fields_are_named_with_the_reason(changes: dict[str, object], message: str) -> None:
    assert message in error_for(**changes)


def test_values_are_trimmed_and_blank_image_sources_mean_none() -> None:
    product = ProductCreate.model_validate(
        {**VALID, "name": "  Kiatu  ", "category": " shoes ", "image_url": "  "}
    )
    assert (product.name, product.category, product.image_url) == ("Kiatu", "shoes", None)


def test_an_update_holds_only_the_fields_given() -> None:
    assert ProductUpdate(price=3.0).changes() == {"price": 3.0}
    assert ProductUpdate.model_validate({"image_url": None}).changes() == {"image_url": None}
    with pytest.raises(ValidationError, match="name must not be null"):
        ProductUpdate.model_validate({"name": None})
    with pytest.raises(ValidationError, match="64 UTF-8 bytes"):
        ProductUpdate(category="x" * 65)
