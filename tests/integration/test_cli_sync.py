"""The catalog commands as an operator runs them: import, sync, reconcile, reindex."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from imageserver import image_bytes
from soko.catalog import Catalog, SpaceRecord
from soko.config import load_settings
from soko.vectorstore import VectorStore


def soko(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "soko", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **env},
    )


def test_import_then_sync_makes_every_product_searchable(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    for name, colour in (("red", (220, 30, 30)), ("green", (30, 200, 30)), ("blue", (30, 30, 220))):
        (tmp_path / "images" / f"{name}.png").write_bytes(image_bytes(colour, size=64))
    (tmp_path / "catalog.csv").write_text(
        "product_id,name,description,category,price,seller_id,image_url,image_path\n"
        "1,Red kanga,Cotton,fabrics,10,1,,images/red.png\n"
        "2,Green kanga,Cotton,fabrics,12,1,,images/green.png\n"
        "3,Blue kanga,Cotton,fabrics,11,2,,images/blue.png\n"
        # An internal address: refused by the default rules, so a text-only vector.
        "4,Kikapu,Woven basket,bags,8,3,http://10.0.0.9/kikapu.jpg,\n",
        encoding="utf-8",
    )
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'catalog.db'}",
        "MILVUS_ADDRESS": str(tmp_path / "milvus.db"),
        "SOKO_EMBEDDER": "effnet-minilm",
        "SOKO_NLIST": "16",
        "SOKO_NPROBE": "16",
    }
    imported = soko("import", str(tmp_path / "catalog.csv"), env=env)
    assert imported.returncode == 0, imported.stderr
    synced = soko("sync", env=env)
    assert synced.returncode == 0, synced.stderr
    assert "hydrate: 4 products embedded (3 images, 1 image failures" in synced.stdout
    assert "image failed for product 4: refused to fetch from 10.0.0.9" in synced.stdout
    assert "ingest: 4 upserted, 0 deleted, 4 marked" in synced.stdout

    settings = load_settings(
        database_url=env["DATABASE_URL"], milvus_address=env["MILVUS_ADDRESS"], nlist=16, nprobe=16
    )
    with Catalog.connect(settings.database_url) as catalog:
        space = SpaceRecord(catalog).get()
        assert space is not None
        assert space.startswith("effnet-lite0+minilm-l6-v2@")
        query = catalog.vectors(1).hybrid
    assert query is not None
    with VectorStore.connect(settings, space) as store:
        hits = store.search(query, limit=4)[0]
        assert hits[0].product_id == 1
        assert hits[0].score > 0.999
        assert {h.product_id for h in hits} == {1, 2, 3, 4}

    again = soko("sync", env=env)
    assert "hydrate: 0 products embedded" in again.stdout
    assert "ingest: 0 upserted" in again.stdout
    reconciled = soko("reconcile", env=env)
    assert reconciled.returncode == 0, reconciled.stderr
    assert "no drift" in reconciled.stdout

    reindexed = soko("reindex", "--yes", env=env)
    assert reindexed.returncode == 0, reindexed.stderr
    assert "catalog: 0 products to re-embed, 4 to re-ingest" in reindexed.stdout
    refilled = soko("ingest", env=env)
    assert "ingest: 4 upserted" in refilled.stdout


def test_ingest_follow_keeps_writing_changes_until_sigterm(tmp_path: Path) -> None:
    from factories import TEST_SPACE, seed_catalog
    from soko.catalog import IngestQueue

    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'catalog.db'}",
        milvus_address=str(tmp_path / "milvus.db"),
        nlist=16,
        nprobe=16,
    )
    env = {
        "DATABASE_URL": settings.database_url,
        "MILVUS_ADDRESS": settings.milvus_address,
        "SOKO_NLIST": "16",
        "SOKO_NPROBE": "16",
        "SOKO_INGEST_POLL": "0.2",
    }
    with Catalog.connect(settings.database_url) as catalog:
        seed_catalog(catalog, range(1, 21))
        worker = subprocess.Popen(
            [sys.executable, "-m", "soko", "ingest", "--follow"],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            queue = IngestQueue(catalog)
            deadline = time.monotonic() + 60
            while queue.pending_count() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert queue.pending_count() == 0
            seed_catalog(catalog, range(21, 31), seed=3)  # arrives while the worker runs
            catalog.delete(5)
            while queue.pending_count() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert queue.pending_count() == 0
        finally:
            worker.send_signal(signal.SIGTERM)
            stdout, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr
    assert "ingest: 30 upserted, 1 deleted, 31 marked" in stdout
    with VectorStore.connect(settings, TEST_SPACE) as store:
        assert sorted(pid for pid, _ in store.iter_versions()) == [
            i for i in range(1, 31) if i != 5
        ]
