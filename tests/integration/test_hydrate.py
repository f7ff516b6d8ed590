"""Scout & Hydrate with the real offline embedder (effnet-minilm), real images over HTTP and
from disk."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from factories import TEST_SPACE, seed_catalog
from imageserver import BLUE_JPEG, RED_PNG, ImageServer, image_bytes, serving
from soko.app.hydrate import Hydrator
from soko.catalog import Catalog, IngestQueue, ProductCreate, ProductUpdate, SpaceRecord
from soko.config import Settings, load_settings
from soko.embedding import Embedder, VectorSpace, product_text
from soko.embedding.effnet_minilm import EffnetMiniLMEmbedder
from soko.errors import EmbedderMismatch
from soko.fetch import SafeFetcher

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def embedder(effnet: EffnetMiniLMEmbedder) -> Embedder:
    return effnet


@pytest.fixture(scope="module")
def space(embedder: Embedder) -> VectorSpace:
    return VectorSpace(embedder.identity, 0.6, 0.4)


@pytest.fixture(scope="module")
def server() -> Iterator[ImageServer]:
    with serving() as s:
        yield s


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        database_url=f"sqlite:///{tmp_path / 'catalog.db'}",
        allow_private_urls=True,  # the image server is on 127.0.0.1
        fetch_timeout_s=2.0,
        embed_batch_size=4,
        fetch_concurrency=2,
    )


@pytest.fixture
def catalog(settings: Settings) -> Iterator[Catalog]:
    with Catalog.connect(settings.database_url) as c:
        yield c


@pytest.fixture
def hydrator(
    settings: Settings, catalog: Catalog, embedder: Embedder, space: VectorSpace
) -> Iterator[Hydrator]:
    with (
        SafeFetcher(settings, backoff_s=0.01) as fetcher,
        Hydrator(settings, catalog, embedder, space, fetcher) as h,
    ):
        yield h


def product(pid: int, **fields: object) -> ProductCreate:
    values: dict[str, object] = {
        "product_id": pid,
        "name": f"Kitenge {pid}",
        "description": "Pamba safi",
        "category": "fabrics",
        "price": 10.0,
        "seller_id": 1,
    }
    return ProductCreate.model_validate({**values, **fields})


Vector = npt.NDArray[np.float32]


def present(vector: Vector | None) -> Vector:
    assert vector is not None
    return vector


def embedded(
    hydrator: Hydrator, image_data: bytes | None, name: str, description: str
) -> tuple[Vector | None, Vector, Vector]:
    """What hydrate must store, computed independently with the same embedder."""
    embedder, space = hydrator.embedder, hydrator.space
    text = embedder.encode_texts([product_text(name, description)])
    if image_data is None:
        return None, text[0], space.fuse(None, text)[0]
    image = embedder.encode_images([Image.open(io.BytesIO(image_data)).convert("RGB")])
    return image[0], text[0], space.fuse(image, text)[0]


def test_new_products_get_image_text_and_hybrid_vectors(
    server: ImageServer, catalog: Catalog, hydrator: Hydrator, tmp_path: Path
) -> None:
    photo = tmp_path / "blue.jpg"
    photo.write_bytes(BLUE_JPEG)
    catalog.import_products(
        [
            product(1, image_url=f"{server.base}/red.png"),
            product(2, image_path=str(photo)),
            product(3),
            product(4, image_url=f"{server.base}/missing.png"),
            product(5, image_url=f"{server.base}/fake.png"),
        ]
    )
    stats = hydrator.run(now=NOW)
    assert (stats.stored, stats.images, stats.image_failures) == (5, 2, 2)
    for pid, data in ((1, RED_PNG), (2, BLUE_JPEG), (3, None), (4, None), (5, None)):
        vectors = catalog.vectors(pid)
        image, text, hybrid = embedded(hydrator, data, f"Kitenge {pid}", "Pamba safi")
        if image is None:
            assert vectors.image is None
        else:
            np.testing.assert_allclose(present(vectors.image), image, atol=1e-5)
        np.testing.assert_allclose(present(vectors.text), text, atol=1e-5)
        np.testing.assert_allclose(present(vectors.hybrid), hybrid, atol=1e-5)
        assert catalog.get(pid).last_hydrated_at == NOW
    # Photos of different colours give different vectors: the image really was used.
    assert not np.allclose(present(catalog.vectors(1).hybrid), present(catalog.vectors(3).hybrid))

    failed = catalog.get(4)
    assert failed.hydrate_error is not None
    assert "HTTP 404" in failed.hydrate_error
    assert failed.hydrate_attempts == 1
    assert failed.next_hydrate_at == NOW + timedelta(minutes=5)
    assert "not an image" in (catalog.get(5).hydrate_error or "")
    counts = catalog.counts()
    assert (counts.hydrate_errors, counts.unhydrated, counts.pending) == (2, 0, 5)
    assert SpaceRecord(catalog).get() == hydrator.space.id


def test_scout_picks_new_changed_stale_and_due_retries_only(
    server: ImageServer, catalog: Catalog, hydrator: Hydrator
) -> None:
    server.files["/later.png"] = ("text/plain", b"not yet")
    catalog.import_products(
        [
            product(1, image_url=f"{server.base}/red.png"),
            product(2, image_url=f"{server.base}/later.png"),
        ]
    )
    assert hydrator.run(now=NOW).stored == 2
    assert hydrator.due_count(NOW) == 0
    catalog.update(1, ProductUpdate(price=99.0))  # not embedded: nothing to do
    assert hydrator.due_count(NOW) == 0
    catalog.update(1, ProductUpdate(description="Pamba safi, rangi nyekundu"))
    assert hydrator.due_count(NOW) == 1
    assert hydrator.run(now=NOW).stored == 1

    # The failed image is retried once its backoff has passed, with a longer one after.
    assert hydrator.due_count(NOW + timedelta(minutes=4)) == 0
    later = NOW + timedelta(minutes=6)
    assert hydrator.run(now=later).stored == 1
    assert catalog.get(2).hydrate_attempts == 2
    assert catalog.get(2).next_hydrate_at == later + timedelta(minutes=10)
    server.files["/later.png"] = ("image/png", image_bytes((20, 200, 20)))
    retry = later + timedelta(minutes=11)
    assert hydrator.run(now=retry).images == 1
    fixed = catalog.get(2)
    assert (fixed.hydrate_error, fixed.hydrate_attempts, fixed.next_hydrate_at) == (None, 0, None)
    assert catalog.vectors(2).image is not None

    # Everything is hydrated again once older than SOKO_HYDRATE_MAX_AGE_HOURS.
    stale = retry + timedelta(hours=hydrator.settings.hydrate_max_age_hours, minutes=1)
    assert hydrator.due_count(stale) == 2


def test_a_failed_refresh_keeps_the_previous_image_vector(
    server: ImageServer, catalog: Catalog, hydrator: Hydrator
) -> None:
    server.files["/vanishing.png"] = ("image/png", RED_PNG)
    catalog.import_products([product(1, image_url=f"{server.base}/vanishing.png")])
    hydrator.run(now=NOW)
    before = catalog.vectors(1)
    del server.files["/vanishing.png"]
    stale = NOW + timedelta(hours=hydrator.settings.hydrate_max_age_hours, minutes=1)
    stats = hydrator.run(now=stale)
    assert stats.image_failures == 1
    after = catalog.vectors(1)
    assert after.image is not None
    assert before.image is not None
    np.testing.assert_array_equal(after.image, before.image)
    np.testing.assert_allclose(present(after.hybrid), present(before.hybrid), atol=1e-5)
    assert "HTTP 404" in (catalog.get(1).hydrate_error or "")


def test_downloads_run_concurrently_but_bounded(
    server: ImageServer, catalog: Catalog, hydrator: Hydrator
) -> None:
    server.max_in_flight = 0
    catalog.import_products(
        [product(i, image_url=f"{server.base}/slow?s=0.3&n={i}") for i in range(1, 7)]
    )
    assert hydrator.run(now=NOW).images == 6
    assert server.max_in_flight == 2  # fetch_concurrency


def test_hydrated_products_become_pending_for_ingest_and_limit_is_respected(
    server: ImageServer, catalog: Catalog, hydrator: Hydrator
) -> None:
    catalog.import_products([product(i, image_url=f"{server.base}/red.png") for i in range(1, 11)])
    assert hydrator.run(now=NOW, limit=3).stored == 3
    assert IngestQueue(catalog).pending_count() == 3
    assert hydrator.run(now=NOW).stored == 7


def test_vectors_of_another_embedder_are_refused(catalog: Catalog, hydrator: Hydrator) -> None:
    seed_catalog(catalog, [1])  # vectors from TEST_SPACE
    assert SpaceRecord(catalog).get() == TEST_SPACE
    catalog.import_products([product(2)])
    with pytest.raises(EmbedderMismatch, match="soko reindex"):
        hydrator.run(now=NOW)


# --- a failure belongs to its product ---------------------------------------------------------
def written_before_the_url_rules(settings: Settings, pid: int, **columns: str) -> None:
    """Set columns of a stored row straight in the SQLite file: a row imported before the
    rules that would refuse it today (or written by another tool)."""
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        db.execute(f"UPDATE products SET {assignments} WHERE id = ?", [*columns.values(), pid])


def test_a_url_the_http_client_cannot_parse_fails_only_its_product(
    server: ImageServer, catalog: Catalog, hydrator: Hydrator, settings: Settings
) -> None:
    catalog.import_products(
        [
            # Accepted (the image server), then redirected to an octal IPv4 form.
            product(1, image_url=f"{server.base}/to?url=http://0177.0.0.1/x.jpg"),
            product(2, image_url=f"{server.base}/red.png"),
            product(3),
            product(4, image_url=f"{server.base}/red.png"),
        ]
    )
    written_before_the_url_rules(settings, 4, image_url="http://0177.0.0.1/x.jpg")
    stats = hydrator.run(now=NOW)
    assert (stats.stored, stats.images, stats.image_failures) == (4, 1, 2)
    for pid in (1, 4):
        failed = catalog.get(pid)
        assert "refused to fetch http://0177.0.0.1/x.jpg" in (failed.hydrate_error or "")
        assert "a.b.c.d" in (failed.hydrate_error or "")
        assert failed.has_vector  # text only: still searchable
    assert catalog.vectors(2).image is not None
    assert IngestQueue(catalog).pending_count() == 4


def test_refused_urls_are_final_and_transient_failures_back_off(
    server: ImageServer, catalog: Catalog, hydrator: Hydrator
) -> None:
    catalog.import_products(
        [
            product(1, image_url=f"{server.base}/to?url=http://169.254.169.254/latest/meta-data/"),
            product(2, image_url=f"{server.base}/flaky/1000"),  # 503 every time
        ]
    )
    stats = hydrator.run(now=NOW)
    assert stats.image_failures == 2
    refused, flaky = catalog.get(1), catalog.get(2)
    assert "cloud metadata" in (refused.hydrate_error or "")
    assert (refused.hydrate_attempts, refused.next_hydrate_at) == (1, None)  # final
    assert "HTTP 503" in (flaky.hydrate_error or "")
    assert flaky.next_hydrate_at == NOW + timedelta(minutes=5)

    # Only the transient failure is tried again, even long after (a refresh included).
    much_later = NOW + timedelta(hours=hydrator.settings.hydrate_max_age_hours, days=3)
    assert hydrator.due_count(NOW + timedelta(minutes=6)) == 1
    assert hydrator.due_count(much_later) == 1
    assert hydrator.run(now=much_later).products == 1
    assert catalog.get(1).hydrate_attempts == 1
    assert catalog.get(2).hydrate_attempts == 2

    # A change of the product is tried at once, and a working image clears the error.
    catalog.update(1, ProductUpdate(image_url=f"{server.base}/red.png"))
    assert hydrator.run(now=much_later).images == 1
    fixed = catalog.get(1)
    assert (fixed.hydrate_error, fixed.hydrate_attempts) == (None, 0)
    assert catalog.vectors(1).image is not None


def test_credentials_in_an_image_url_are_never_stored(
    server: ImageServer, catalog: Catalog, hydrator: Hydrator, settings: Settings
) -> None:
    catalog.import_products(
        [
            product(1, image_url=f"{server.base}/to?url=http://seller:hunter2@10.0.0.7/x.jpg"),
            product(2, image_url=f"{server.base}/red.png"),
        ]
    )
    written_before_the_url_rules(
        settings, 2, image_url=f"http://seller:hunter2@127.0.0.1:{server.server_address[1]}/x"
    )
    stats = hydrator.run(now=NOW)
    assert stats.image_failures == 2
    for pid in (1, 2):
        error = catalog.get(pid).hydrate_error or ""
        assert "credentials" in error
        assert "hunter2" not in error
        assert "seller" not in error
        assert "hunter2" not in stats.errors[pid]
    assert "http://***@10.0.0.7/x.jpg" in (catalog.get(1).hydrate_error or "")


def test_a_product_with_nothing_to_embed_fails_alone(
    server: ImageServer, catalog: Catalog, hydrator: Hydrator, settings: Settings
) -> None:
    # effnet-minilm gives every non-blank text a vector ("!!!" included) and validation
    # refuses blank names, so only a row written around validation has no text at all.
    assert float(np.linalg.norm(hydrator.embedder.encode_texts(["!!!"]))) > 0.99
    catalog.import_products(
        [product(1), product(2, image_url=f"{server.base}/red.png"), product(3)]
    )
    written_before_the_url_rules(settings, 1, name="   ", description="")
    stats = hydrator.run(now=NOW)
    assert (stats.products, stats.stored, stats.not_embedded) == (3, 2, 1)
    empty = catalog.get(1)
    assert "nothing to embed" in (empty.hydrate_error or "")
    assert (empty.has_vector, empty.next_hydrate_at) == (False, None)
    assert catalog.vectors(1).hybrid is None
    assert IngestQueue(catalog).pending_count() == 2  # the others go on to Milvus
    # Not picked again on every pass; picked as soon as it changes.
    assert hydrator.due_count(NOW + timedelta(days=31)) == 2  # 2 and 3, stale by then
    assert hydrator.run(now=NOW).products == 0
    catalog.update(1, ProductUpdate(name="Kikapu"))
    assert hydrator.run(now=NOW).stored == 1
    fixed = catalog.get(1)
    assert (fixed.hydrate_error, fixed.has_vector) == (None, True)
