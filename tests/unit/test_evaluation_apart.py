"""`soko eval --apart`: queries and catalog never share an owner (e.g. a photographer)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from soko.app.evaluation import CatalogRow, _sides, read_catalog
from soko.errors import InvalidInput


def rows(owners: Sequence[str | None]) -> list[CatalogRow]:
    return [CatalogRow(str(i), "t", "c", None, None, owner=owner) for i, owner in enumerate(owners)]


def test_owners_are_split_into_two_halves_that_never_meet() -> None:
    owners = [f"seller-{i % 40}" for i in range(400)]
    queries, catalog = _sides(rows(owners))
    assert (queries ^ catalog).all()  # every row on exactly one side
    query_owners = {o for o, q in zip(owners, queries, strict=True) if q}
    catalog_owners = {o for o, c in zip(owners, catalog, strict=True) if c}
    assert query_owners.isdisjoint(catalog_owners)
    assert 10 <= len(query_owners) <= 30  # both halves are substantial
    again, _ = _sides(rows(owners))
    assert (again == queries).all()  # stable across runs


def test_without_owners_every_row_is_both_query_and_catalog() -> None:
    queries, catalog = _sides(rows([None, None, None]))
    assert queries.all()
    assert catalog.all()


def test_the_apart_column_must_exist(tmp_path: Path) -> None:
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("category,image_file\nshoes,a.jpg\nbags,b.jpg\n")
    rows_read, _ = read_catalog(csv_path)  # no name column needed
    assert [r.category for r in rows_read] == ["shoes", "bags"]
    with pytest.raises(InvalidInput, match="seller_id"):
        read_catalog(csv_path, apart_column="seller_id")
