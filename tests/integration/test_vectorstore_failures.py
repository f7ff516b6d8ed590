"""How the vector store fails: unreachable, hung, or a Lite file held by another process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from factories import product_batch, unit_vectors
from soko.config import Settings, load_settings
from soko.errors import VectorStoreLocked, VectorStoreUnavailable
from soko.vectorstore import VectorStore
from soko.vectorstore.backends import backend_for
from soko.vectorstore.server import LocalMilvusServer, free_port


def test_unreachable_server_is_one_typed_error_within_the_timeout() -> None:
    settings = load_settings(milvus_address=f"127.0.0.1:{free_port()}", milvus_timeout_ms=1500)
    started = time.monotonic()
    with pytest.raises(VectorStoreUnavailable, match="Milvus unavailable"):
        VectorStore.open_existing(settings)
    assert time.monotonic() - started < 10


def test_a_lite_file_open_in_another_process_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "held.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pymilvus import MilvusClient\n"
            f"MilvusClient({str(db)!r}).list_collections()\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(VectorStoreLocked) as info:
            VectorStore.open_existing(load_settings(milvus_address=str(db)))
        assert "another process" in str(info.value)
        assert "MILVUS_ADDRESS" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
        # An unclosed pipe is a ResourceWarning (an error under pytest) in whatever test
        # the garbage collector happens to run in.
        if holder.stdout is not None:
            holder.stdout.close()


def test_closing_the_last_store_releases_a_lite_file(tmp_path: Path) -> None:
    db = str(tmp_path / "released.db")
    store = VectorStore.connect(load_settings(milvus_address=db), "e")
    store.close()
    probe = subprocess.run(
        [sys.executable, "-c", f"from pymilvus import MilvusClient; MilvusClient({db!r})"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]


@pytest.mark.milvus_server
def test_a_hung_server_times_out_then_recovers(
    milvus_server: LocalMilvusServer, tmp_path: Path
) -> None:
    settings = load_settings(
        milvus_address=milvus_server.address, collection_name="t_hung", nlist=16
    )
    store = VectorStore.connect(settings, "e")
    vectors = unit_vectors(10)
    store.upsert(product_batch(np.arange(10), vectors))
    assert milvus_server.pid is not None

    def with_timeout(ms: int) -> VectorStore:
        changed = Settings(**{**settings.model_dump(), "milvus_timeout_ms": ms})
        return VectorStore(backend_for(changed), changed, store.spec)

    # Both connect now, while the server still answers.
    impatient, patient = with_timeout(2000), with_timeout(20_000)
    try:
        os.kill(milvus_server.pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(VectorStoreUnavailable):
            impatient.search(vectors[0], limit=3)
        assert time.monotonic() - started < 8
        # Retries with backoff ride out a short stall.
        threading.Timer(1.0, os.kill, (milvus_server.pid, signal.SIGCONT)).start()
        hits = patient.search(vectors[0], limit=3)[0]
        assert hits[0].product_id == 0
    finally:
        os.kill(milvus_server.pid, signal.SIGCONT)
        store.drop()
        for opened in (store, impatient, patient):
            opened.close()


@pytest.mark.milvus_server
def test_a_collection_not_loaded_is_unavailable_and_is_loaded_again(
    milvus_server: LocalMilvusServer,
) -> None:
    """After a restart Milvus may answer "collection not loaded": a transient state (503 +
    Retry-After in the API), and the store loads the collection again by itself."""
    settings = load_settings(
        milvus_address=milvus_server.address, collection_name="t_unloaded", nlist=16
    )
    store = VectorStore.connect(settings, "e")
    vectors = unit_vectors(10)
    store.upsert(product_batch(np.arange(10), vectors))
    try:
        with VectorStore.open_existing(settings) as other:
            other.release()
        with pytest.raises(VectorStoreUnavailable, match="not loaded") as info:
            store.search(vectors[0], limit=3)
        assert info.value.retry_after_s is not None
        deadline = time.monotonic() + 15
        while True:
            try:
                hits = store.search(vectors[0], limit=3)[0]
                break
            except VectorStoreUnavailable:
                assert time.monotonic() < deadline, "the collection was not loaded again"
                time.sleep(0.2)
        assert hits[0].product_id == 0
    finally:
        store.drop()
        store.close()
