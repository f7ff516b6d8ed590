"""`soko health` as an operator runs it: a real process, real Milvus, real exit codes."""

from __future__ import annotations

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
