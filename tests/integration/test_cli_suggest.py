"""`soko eval-suggest`: the listing suggestion measured on a tiny labelled catalog of real demo
photos, run as an operator runs it (a real process, the real offline embedder)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from apiserver import DEMO, DEMO_ROWS
from cli import run_soko

#: Ten photos of each, all by different sellers (clearly different things to a photo model).
CATEGORIES = ("clothing/shoes", "clothing/hat", "packages/juice")


@pytest.fixture(scope="module")
def small_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = []
    for category in CATEGORIES:
        ids = [pid for pid, row in DEMO_ROWS.items() if row["category"] == category][:10]
        for pid in ids:
            row = DEMO_ROWS[pid]
            rows.append(
                {
                    "product_id": str(pid),
                    "category": category,
                    "price": row["price"],
                    "seller_id": f"s{pid}",
                    "image_file": str(DEMO / row["image_path"]),
                }
            )
    path = tmp_path_factory.mktemp("suggest") / "catalog.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_eval_suggest_reports_accuracy_calibration_and_price_coverage(
    small_catalog: Path,
) -> None:
    env = {"SOKO_EMBEDDER": "effnet-minilm"}
    result = run_soko("eval-suggest", str(small_catalog), "--apart", "seller_id", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["rows"], report["categories"]) == (30, 3)
    assert report["apart"] == "seller_id"
    assert report["queries"] + report["catalog_products"] == 30  # every seller on one side
    assert 5 <= report["queries"] <= 25
    assert report["vote_neighbours"] == 10
    assert 0.8 <= report["top1_accuracy"] <= report["top3_accuracy"] <= 1.0
    assert sum(b["suggestions"] for b in report["calibration"]) == report["queries"]
    assert report["priced_queries"] == report["queries"]  # the demo's prices are in the CSV
    assert report["price_banded"] <= report["priced_queries"]
    if report["price_banded"]:
        assert 0.0 <= report["price_coverage"] <= 1.0


def test_eval_suggest_without_prices_says_the_band_is_not_measured(tmp_path: Path) -> None:
    photos = [pid for pid, row in DEMO_ROWS.items() if row["category"] == "clothing/hat"][:3]
    path = tmp_path / "hats.csv"
    lines = ["category,image_file"] + [f"hat,{DEMO / DEMO_ROWS[p]['image_path']}" for p in photos]
    path.write_text("\n".join(lines) + "\n")
    result = run_soko("eval-suggest", str(path), env={"SOKO_EMBEDDER": "effnet-minilm"})
    assert result.returncode == 0, result.stderr
    assert "category top-1 1.000  top-3 1.000" in result.stdout
    assert "confidence >= 0.7: 100.0% of photos, right 1.000" in result.stdout
    assert "price band: not measured" in result.stdout
