"""Shared fixtures: real Milvus (Lite file and a standalone server), settings for them, and
the real offline embedder (effnet-minilm) with one model cache for the run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgserver import LocalPostgres
from pgserver import unavailable_reason as postgres_unavailable_reason
from soko.config import Settings, load_settings
from soko.embedding.effnet_minilm import EffnetMiniLMEmbedder
from soko.vectorstore.server import LocalMilvusServer, server_supported


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache of compiled models for the run: effnet-minilm's towers are exported to ONNX
    once, not once per test or per `soko` process (each finds it via SOKO_MODEL_CACHE_DIR)."""
    folder = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOKO_MODEL_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def effnet(model_cache: Path) -> EffnetMiniLMEmbedder:
    """The real offline embedder, loaded once for the run."""
    return EffnetMiniLMEmbedder.load(cache_dir=model_cache, batch_size=16)


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMilvusServer]:
    """A real Milvus 2.3.5 standalone server on a free loopback port, for the whole run."""
    ok, why = server_supported()
    if not ok:
        pytest.skip(f"Milvus server backend not run: {why}")
    server = LocalMilvusServer(tmp_path_factory.mktemp("milvus-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def lite_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Milvus Lite file shared by the run; tests isolate themselves by collection name."""
    return tmp_path_factory.mktemp("milvus-lite") / "milvus.db"


def unique_collection() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["lite", pytest.param("server", marks=pytest.mark.milvus_server)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def milvus_address(backend: str, request: pytest.FixtureRequest) -> str:
    if backend == "lite":
        return str(request.getfixturevalue("lite_db"))
    server: LocalMilvusServer = request.getfixturevalue("milvus_server")
    return server.address


@pytest.fixture
def settings(milvus_address: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own collection on the parametrised backend, small nlist."""
    return load_settings(
        milvus_address=milvus_address,
        collection_name=unique_collection(),
        nlist=16,
        nprobe=16,
        milvus_timeout_ms=20_000,
        database_url=f"sqlite:///{tmp_path / 'catalog.db'}",
    )


# --- catalog: a real PostgreSQL server, and catalogs on SQLite and PostgreSQL ---------------
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    """A throwaway PostgreSQL server (initdb + pg_ctl) on a free loopback port."""
    why = postgres_unavailable_reason()
    if why:
        pytest.skip(f"PostgreSQL tests not run: {why}")
    server = LocalPostgres().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: LocalPostgres) -> str:
    """A fresh database on the session's PostgreSQL server."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return str(request.getfixturevalue("postgres_url"))


# The API server fixtures live with their helpers; importing them here registers them.
from apiserver import api_server, client  # noqa: E402, F401
