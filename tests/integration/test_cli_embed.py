"""`soko embed`, `soko eval`, `soko-bench embed`, `soko reindex` and the embedder in
`soko health`, run as an operator runs them: real processes, real files, Milvus Lite."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli import run_soko
from factories import product_batch, unit_vectors
from pictures import PRODUCTS, another_shot, product_photo
from soko.config import load_settings
from soko.embedding.effnet_minilm import EffnetMiniLMEmbedder
from soko.errors import EmbedderMismatch
from soko.vectorstore import VectorStore


def soko(
    *args: str, env: dict[str, str] | None = None, module: str = "soko"
) -> subprocess.CompletedProcess[str]:
    return run_soko(
        *args, env={"SOKO_EMBEDDER": "effnet-minilm", **(env or {})}, timeout=300, module=module
    )


@pytest.fixture(scope="module")
def space_id(effnet: EffnetMiniLMEmbedder) -> str:
    """The vector space `soko` runs in here: effnet-minilm with the default fusion."""
    return f"{effnet.identity};fusion=0.6/0.4"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labelled catalog CSV: three photos of each drawn product, texts and categories."""
    folder = tmp_path_factory.mktemp("catalog")
    (folder / "images").mkdir()
    categories = {"red mug": "Home/Kitchen", "green bottle": "Home/Kitchen"}
    rows = []
    for name in PRODUCTS:
        for shot in range(3):
            photo = product_photo(name, seed=shot)
            if shot:
                photo = another_shot(photo, crop=0.04 * shot, brightness=1 + 0.08 * shot)
            image_file = f"images/{name.replace(' ', '-')}_{shot}.jpg"
            photo.save(folder / image_file, quality=90)
            rows.append(
                {
                    "product_id": f"{name}-{shot}",
                    "name": name.title(),
                    "description": f"A {name} from our Nairobi shop.",
                    "category": categories.get(name, "Fashion/" + name.split()[-1]),
                    "image_file": image_file,
                    "class_name": name,
                }
            )
    path = folder / "metadata.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_embed_prints_the_embedder_id_and_three_vectors(
    tmp_path: Path, effnet: EffnetMiniLMEmbedder, space_id: str
) -> None:
    photo = tmp_path / "mug.png"
    product_photo("red mug").save(photo)
    result = soko("embed", "--image", str(photo), "--text", "Red ceramic mug, 350 ml")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"embedder: {effnet.identity} (768 dimensions)"
    assert lines[1] == f"vector space: {space_id}"
    for label, line in zip(("image", "text", "hybrid"), lines[2:5], strict=True):
        assert line.startswith(f"{label}: [")
        assert line.endswith("norm=1.0000")
        values = [float(v) for v in line.split("[")[1].split(", ...]")[0].split(", ")]
        assert len(values) == 8
        assert values[0] != 0
    # Image and text each fill their own half; the hybrid starts with the image half.
    assert [line.split(" from dimension ")[1].split(",")[0] for line in lines[2:5]] == [
        "0",
        "384",
        "0",
    ]
    assert lines[2] != lines[3] != lines[4]


def test_embed_refuses_a_file_that_is_not_an_image(tmp_path: Path) -> None:
    fake = tmp_path / "photo.jpg"
    fake.write_text("<html>not found</html>")
    result = soko("embed", "--image", str(fake))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {fake}: not an image in a supported format (JPEG, PNG, WebP, GIF, BMP, TIFF, AVIF)"
    ]
    nothing = soko("embed")
    assert nothing.returncode == 2
    assert "give --image PATH, --text TEXT, or both" in nothing.stderr


def test_auto_mode_warns_once_why_it_is_not_siglip(tmp_path: Path) -> None:
    result = soko(
        "embed",
        "--text",
        "kikoi",
        env={"SOKO_EMBEDDER": "auto", "SOKO_SIGLIP_MODEL": str(tmp_path / "no-weights")},
    )
    assert result.returncode == 0, result.stderr
    assert "embedder: effnet-lite0+minilm-l6-v2@" in result.stdout
    [warning] = result.stderr.strip().splitlines()
    assert "using effnet-minilm" in warning
    assert "because SigLIP is unavailable" in warning
    assert "SOKO_SIGLIP_MODEL=/path/to/siglip" in warning


def test_eval_scores_a_labelled_catalog(catalog: Path, space_id: str) -> None:
    result = soko("eval", str(catalog), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["rows"], report["groups"], report["k"]) == (21, 7, 10)
    assert report["vector_space"] == space_id
    variants = {v["name"]: v for v in report["variants"]}
    assert list(variants) == ["image", "text", "hybrid", "photo->hybrid"]
    # Two other shots of each product exist; the drawn products are easy to tell apart.
    assert variants["image"]["same_product_hit_rate"] == 1.0
    assert variants["image"]["same_product_recall"] == 1.0  # both other shots, every time
    for v in variants.values():
        assert v["queries"] == 21
        assert 0.0 < v["precision_at_k"] <= v["precision_ceiling"] <= 1.0
    # Category "Home/Kitchen" holds 6 photos, every other one 3: at most 5 or 2 of 10 match.
    assert variants["image"]["precision_ceiling"] == pytest.approx((6 * 0.5 + 15 * 0.2) / 21)

    table = soko("eval", str(catalog))
    assert table.returncode == 0, table.stderr
    assert "21 rows, 6 categories, 7 products grouped by class_name" in table.stdout
    assert any(line.startswith("photo->hybrid") for line in table.stdout.splitlines())


def test_eval_refuses_a_csv_without_the_needed_columns(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("product_id,title\n1,Mug\n")
    result = soko("eval", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}: missing column(s) category, image_file"  # name is optional
    ]


def test_bench_embed_writes_figures_for_each_embedder(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = soko(
        "embed",
        "--images",
        "4",
        "--texts",
        "8",
        "--no-random-siglip",
        "--out",
        str(out),
        env={
            "SOKO_SIGLIP_MODEL": str(tmp_path / "no-weights"),
            "SOKO_DATA_DIR": str(tmp_path / "data"),
        },
        module="soko_bench",
    )
    assert result.returncode == 0, result.stderr
    [path] = out.glob("embed-*.json")
    figures = json.loads(path.read_text())
    assert figures["decode_images_per_s"] > 0
    effnet = figures["embedders"]["effnet-minilm"]
    assert effnet["identity"].startswith("effnet-lite0+minilm-l6-v2@")
    assert effnet["images_per_s"] > 0
    assert effnet["texts_per_s"] > 0
    assert "neither a folder nor a hub id" in figures["embedders"]["siglip"]["unavailable"]
    assert f"written: {path}" in result.stdout


def _collection_of_another_embedder(tmp_path: Path) -> str:
    db = str(tmp_path / "milvus.db")
    with VectorStore.connect(load_settings(milvus_address=db), "old-embedder;fusion=0.6/0.4") as s:
        s.upsert(product_batch(np.arange(12), unit_vectors(12)))
    return db


def test_health_shows_the_running_embedder_and_a_mismatch(tmp_path: Path, space_id: str) -> None:
    db = _collection_of_another_embedder(tmp_path)
    result = soko("health", env={"MILVUS_ADDRESS": db})
    assert result.returncode == 0, result.stderr
    assert "collection embedder: old-embedder;fusion=0.6/0.4" in result.stdout
    assert f"\nembedder: {space_id}\n" in result.stdout
    assert "run `soko reindex`" in result.stdout
    as_json = soko("health", "--json", env={"MILVUS_ADDRESS": db})
    assert json.loads(as_json.stdout)["running_embedder"] == space_id


def test_reindex_recreates_the_collection_for_the_running_embedder(
    tmp_path: Path, space_id: str
) -> None:
    db = _collection_of_another_embedder(tmp_path)
    settings = load_settings(milvus_address=db)
    with pytest.raises(EmbedderMismatch, match="soko reindex"):
        VectorStore.connect(settings, space_id)
    refused = subprocess.run(
        [sys.executable, "-m", "soko", "reindex"],
        input="n\n",
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SOKO_EMBEDDER": "effnet-minilm", "MILVUS_ADDRESS": db},
    )
    assert refused.returncode != 0
    assert "drop 12 vectors of old-embedder" in refused.stderr
    with VectorStore.open_existing(settings) as store:
        assert store.count() == 12  # nothing dropped without a yes

    result = soko("reindex", "--yes", env={"MILVUS_ADDRESS": db})
    assert result.returncode == 0, result.stderr
    assert f"re-created for {space_id} (0 vectors)" in result.stdout
    with VectorStore.connect(settings, space_id) as store:
        assert store.count() == 0
        assert store.recorded_embedder() == space_id
