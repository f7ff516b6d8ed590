"""Milvus boolean expressions built from typed filters, never from pasted user text.

The Milvus 2.3 server has no expression templates, so string values are written as quoted
literals with every character that could end or bend the literal escaped; numbers are
formatted from validated Python numbers. Tests try to break out of the quotes on both
backends.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field

from soko.errors import InvalidInput

_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "'": "\\'",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def quote_string(value: str) -> str:
    """A double-quoted Milvus string literal that evaluates to exactly `value`."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            raise InvalidInput(f"control character U+{ord(char):04X} in filter value")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _number(value: float, name: str) -> str:
    if not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number", field=name)
    return repr(float(value))


def _int64(value: int, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInput(f"{name} must be an integer", field=name)
    if not -(2**63 - 1) <= int(value) < 2**63:  # Milvus cannot parse -2**63
        raise InvalidInput(f"{name} is outside the 64-bit integer range", field=name)
    return str(int(value))


@dataclass(frozen=True)
class SearchFilters:
    """Scalar filters a search may carry. All optional; they are AND-ed together."""

    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    exclude_seller: int | None = None
    exclude_ids: tuple[int, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise InvalidInput("min_price must not exceed max_price", field="min_price")

    def expression(self) -> str:
        """The Milvus filter expression, or "" for no filter."""
        clauses: list[str] = []
        if self.category is not None:
            clauses.append(f"category == {quote_string(self.category)}")
        if self.min_price is not None:
            clauses.append(f"price >= {_number(self.min_price, 'min_price')}")
        if self.max_price is not None:
            clauses.append(f"price <= {_number(self.max_price, 'max_price')}")
        if self.exclude_seller is not None:
            clauses.append(f"seller_id != {_int64(self.exclude_seller, 'exclude_seller')}")
        if self.exclude_ids:
            clauses.append(f"product_id not in {id_list(self.exclude_ids, 'exclude_ids')}")
        return " and ".join(clauses)


def id_list(ids: Iterable[int], name: str = "ids") -> str:
    """`[1, 2, 3]` from validated integers, for `in` / `not in` expressions."""
    return "[" + ", ".join(_int64(i, name) for i in ids) + "]"
