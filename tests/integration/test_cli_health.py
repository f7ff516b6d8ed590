"""`soko health` as an operator runs it: a real process, real Milvus, real exit codes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from cli import run_soko
from factories import product_batch, unit_vectors
from soko.config import load_settings
from soko.vectorstore import VectorStore
from soko.vectorstore.server import free_port


def test_health_prints_the_vector_count_collection_and_status(tmp_path: Path) -> None:
    db = str(tmp_path / "health.db")
    store = VectorStore.connect(load_settings(milvus_address=db), "some-embedder-v1")
    store.upsert(product_batch(np.arange(12), unit_vectors(12)))
    store.close()
    result = run_soko("health", env={"MILVUS_ADDRESS": db})
    assert result.returncode == 0, result.stderr
    assert "status: ok" in result.stdout
    assert "collection: product_embeddings" in result.stdout
    assert "vectors: 12" in result.stdout
    assert "embedder: some-embedder-v1" in result.stdout


def test_health_exits_non_zero_when_milvus_is_unreachable() -> None:
    result = run_soko(
        "health", env={"MILVUS_ADDRESS": f"127.0.0.1:{free_port()}", "MILVUS_TIMEOUT": "1500"}
    )
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: Milvus unavailable")


def test_a_bad_setting_is_one_line_naming_the_variable() -> None:
    result = run_soko("health", env={"SOKO_NLIST": "lots"})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: SOKO_NLIST:")


def test_failing_products_fail_alone_and_are_listed(tmp_path: Path) -> None:
    """The sync goes on past products whose image is refused, even ones stored before today's
    URL rules; `soko health` lists them with their reasons; no credentials in any output."""
    (tmp_path / "catalog.csv").write_text(
        "product_id,name,description,category,price,seller_id,image_url\n"
        "1,Kikapu,Woven basket,bags,8,3,\n"
        "2,Kanga,Cotton,fabrics,5,1,http://127.0.0.1:9/kanga.jpg\n"
        "3,Simu,Phone,phones,90,2,https://img.example/simu.jpg\n",
        encoding="utf-8",
    )
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'catalog.db'}",
        "MILVUS_ADDRESS": str(tmp_path / "milvus.db"),
        "SOKO_EMBEDDER": "effnet-minilm",
        "SOKO_NLIST": "16",
        "SOKO_LOG_LEVEL": "DEBUG",
    }
    assert run_soko("import", str(tmp_path / "catalog.csv"), env=env).returncode == 0
    with sqlite3.connect(tmp_path / "catalog.db") as db:  # stored before the rules refused it
        db.execute(
            "UPDATE products SET image_url = 'http://seller:hunter2@0177.0.0.1/x.jpg' WHERE id = 3"
        )
    synced = run_soko("sync", env=env, timeout=300)
    assert synced.returncode == 0, synced.stderr[-3000:]
    # (At DEBUG, Milvus Lite's in-process gRPC server logs tracebacks of its own.)
    assert "/soko/" not in synced.stderr, synced.stderr[-3000:]
    assert "ingest: 3 upserted" in synced.stdout
    health = run_soko("health", env=env)
    assert health.returncode == 0, health.stderr
    assert "vectors: 3" in health.stdout
    assert "failing products: 2" in health.stdout
    assert "product 2: refused to fetch from 127.0.0.1: 127.0.0.1 is a loopback address" in (
        health.stdout
    )
    assert "product 3: refused to fetch http://***@0177.0.0.1/x.jpg" in health.stdout
    assert "(final until it changes)" in health.stdout
    as_json = json.loads(run_soko("health", "--json", env=env).stdout)
    assert as_json["failing_products"]["count"] == 2
    assert [e["product_id"] for e in as_json["failing_products"]["examples"]] == [2, 3]
    for output in (synced.stdout, synced.stderr, health.stdout):
        assert "hunter2" not in output
