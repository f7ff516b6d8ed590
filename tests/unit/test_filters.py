from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soko.errors import InvalidInput
from soko.vectorstore.filters import SearchFilters, id_list, quote_string

printable = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], min_codepoint=0x20).filter(
        lambda c: c != "\x7f"
    )
)


def unquote(literal: str) -> str:
    """Reference reader for the literal grammar quote_string writes."""
    assert literal[0] == literal[-1] == '"'
    body, out, i = literal[1:-1], [], 0
    escapes = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "r": "\r", "t": "\t"}
    while i < len(body):
        if body[i] == "\\":
            out.append(escapes[body[i + 1]])
            i += 2
        else:
            assert body[i] != '"', "unescaped quote inside the literal"
            out.append(body[i])
            i += 1
    return "".join(out)


@given(printable)
def test_quote_string_round_trips_and_never_leaves_the_literal(value: str) -> None:
    literal = quote_string(value)
    assert unquote(literal) == value


@pytest.mark.parametrize("bad", ["a\x00b", "\x1b[31m", "x\x7f"])
def test_control_characters_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        quote_string(bad)


def test_expression_combines_filters_with_and() -> None:
    expr = SearchFilters(
        category='shoes"', min_price=1.5, max_price=10, exclude_seller=7, exclude_ids=(1, 2)
    ).expression()
    assert expr == (
        'category == "shoes\\"" and price >= 1.5 and price <= 10.0 and seller_id != 7 '
        "and product_id not in [1, 2]"
    )
    assert SearchFilters().expression() == ""


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_prices_are_finite_numbers_or_refused(price: float) -> None:
    if math.isfinite(price):
        assert SearchFilters(min_price=price).expression() == f"price >= {float(price)!r}"
    else:
        with pytest.raises(InvalidInput):
            SearchFilters(min_price=price).expression()


def test_ids_must_be_integers() -> None:
    assert id_list([1, 2, 3]) == "[1, 2, 3]"
    with pytest.raises(InvalidInput):
        id_list(["1 or 1==1"])  # type: ignore[list-item]
    with pytest.raises(InvalidInput):
        id_list([True])
    with pytest.raises(InvalidInput):
        id_list([2**63])


def test_min_price_above_max_price_is_refused() -> None:
    with pytest.raises(InvalidInput, match="min_price"):
        SearchFilters(min_price=10, max_price=5)
