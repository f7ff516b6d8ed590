from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from soko.app.demo import CATEGORIES, write_catalog


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != ".generated":
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def test_demo_catalog_is_deterministic_and_covers_the_categories(tmp_path: Path) -> None:
    first = write_catalog(tmp_path / "a", count=40, seed=3)
    second = write_catalog(tmp_path / "b", count=40, seed=3)
    assert _digest(first.parent) == _digest(second.parent)
    rows = list(csv.DictReader(first.read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 40
    assert {r["category"] for r in rows} == {c.slug for c in CATEGORIES}
    assert len(CATEGORIES) >= 8
    names = " ".join(r["name"] for r in rows)
    assert any(word in names for word in ("Viatu", "Mkoba", "Kiti", "Sufuria"))  # Swahili
    assert any(word in names for word in ("Sac", "Chaussures", "Chaise", "Marmite"))  # French
    for row in rows:
        assert (first.parent / row["image_path"]).is_file()
    assert write_catalog(tmp_path / "c", count=40, seed=4).read_text() != first.read_text()
