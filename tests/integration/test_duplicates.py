"""Duplicate listings on real demo photos, hydrated and ingested for real, on both Milvus
backends: re-posted copies are found (same seller and another), a look-alike is not."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from cli import run_soko
from soko.app import Soko
from soko.config import Settings, load_settings

DEMO = Path(__file__).resolve().parents[2] / "demo"
#: Two different dresses photographed apart: the second is a look-alike, not a copy.
ORIGINAL = "images/clothing/053689bb-5928-489b-aeaf-dfb969b05e93.jpg"


def _demo_photos() -> tuple[Path, Path]:
    with (DEMO / "catalog.csv").open(newline="", encoding="utf-8") as f:
        dresses = [r["image_path"] for r in csv.DictReader(f) if r["category"] == "clothing/dress"]
    other = next(p for p in dresses if p != ORIGINAL)
    return DEMO / ORIGINAL, DEMO / other


def _jpeg(image: Image.Image, path: Path, quality: int) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    path.write_bytes(buffer.getvalue())


def make_catalog(folder: Path) -> Path:
    """1: a dress photo; 2: its re-encoded, resized copy by the same seller; 3: a cropped
    copy by another seller; 4: another dress (same category); 5: no photo."""
    original, other = _demo_photos()
    images = folder / "images"
    images.mkdir()
    shutil.copy(original, images / "a.jpg")
    shutil.copy(other, images / "b.jpg")
    with Image.open(original) as img:
        photo = img.convert("RGB")
    w, h = photo.size
    _jpeg(photo.resize((w * 7 // 10, h * 7 // 10)), images / "a-small.jpg", 50)
    _jpeg(photo.crop((w // 33, h // 33, w - w // 33, h - h // 33)), images / "a-crop.jpg", 70)
    path = folder / "catalog.csv"
    path.write_text(
        "product_id,name,description,category,price,seller_id,image_path\n"
        "1,Red dress,Size M,clothing/dress,2500,7,images/a.jpg\n"
        "2,Dress sale,Size M cheap,clothing/dress,2000,7,images/a-small.jpg\n"
        "3,Gauni,Saizi M,clothing/dress,2400,8,images/a-crop.jpg\n"
        "4,Dress,Size S,clothing/dress,2300,7,images/b.jpg\n"
        "5,Dress (no photo),Size L,clothing/dress,2100,7,\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def soko(settings: Settings, tmp_path: Path) -> Iterator[Soko]:
    effnet = load_settings(
        **{**settings.model_dump(), "embedder": "effnet-minilm", "media_root": tmp_path}
    )
    path = make_catalog(tmp_path)
    with Soko.open(effnet) as app:
        assert not app.import_file(path).problems
        with app.hydrator() as hydrator:
            assert hydrator.run().stored == 5
        assert app.ingest_worker().run().marked == 5
        yield app
        app.store.drop()


def test_copies_of_a_photo_are_duplicates_and_a_look_alike_is_not(soko: Soko) -> None:
    found = {d.product_id: d for d in soko.duplicates.of_product(1)}
    assert set(found) == {2, 3}
    assert found[2].same_seller
    assert not found[3].same_seller
    assert all(0.5 < d.score <= 1.0 and d.reason for d in found.values())
    assert {d.product_id for d in soko.duplicates.of_product(4)} == set()
    assert soko.duplicates.of_product(5) == []  # no photo: skipped


def test_an_upload_is_checked_against_the_stored_photos(soko: Soko, tmp_path: Path) -> None:
    with Image.open(tmp_path / "images" / "a-crop.jpg") as img:
        upload = img.convert("RGB").resize((300, 400))
    found = {d.product_id: d for d in soko.duplicates.of_upload(upload, seller_id=8)}
    assert set(found) == {1, 2, 3}
    assert found[3].same_seller
    assert not found[1].same_seller
    with Image.open(tmp_path / "images" / "b.jpg") as img:
        look_alike = img.convert("RGB")
    assert {d.product_id for d in soko.duplicates.of_upload(look_alike, 7)} == {4}


def test_catalog_pairs_are_each_reported_once(soko: Soko) -> None:
    pairs = {(p.first, p.second): p for p in soko.duplicates.catalog_pairs()}
    assert set(pairs) == {(1, 2), (1, 3), (2, 3)}
    assert pairs[(1, 2)].same_seller
    assert not pairs[(1, 3)].same_seller


def test_duplicates_command_on_a_small_catalog(tmp_path: Path) -> None:
    path = make_catalog(tmp_path)
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'catalog.db'}",
        "MILVUS_ADDRESS": str(tmp_path / "milvus.db"),
        "SOKO_EMBEDDER": "effnet-minilm",
        "SOKO_NLIST": "16",
        "SOKO_NPROBE": "16",
    }
    for step in (("import", str(path)), ("sync",)):
        done = run_soko(*step, env=env)
        assert done.returncode == 0, done.stderr
    listed = run_soko("duplicates", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    pairs = {(p["first"], p["second"]): p for p in json.loads(listed.stdout)}
    assert set(pairs) == {(1, 2), (1, 3), (2, 3)}
    assert pairs[(1, 3)]["same_seller"] is False
    assert "image similarity" in pairs[(1, 3)]["reason"]
    text = run_soko("duplicates", env=env)
    assert text.returncode == 0
    assert "3 likely duplicate pairs" in text.stdout
