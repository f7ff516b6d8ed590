"""The search service over the real vector store (Lite and server) with the offline
effnet-minilm embedder."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from pictures import PRODUCTS, another_shot, product_photo
from soko.app.search import SearchOptions, SearchService
from soko.catalog import Catalog, HydrateQueue, ProductCreate, VectorUpdate
from soko.config import Settings
from soko.embedding import Embedder, VectorSpace
from soko.embedding.effnet_minilm import EffnetMiniLMEmbedder
from soko.errors import InvalidInput, ProductNotFound
from soko.products import ProductBatch, ProductHit
from soko.vectorstore import SearchFilters, VectorStore

NAMES = list(PRODUCTS)
CATEGORY = {
    "red mug": "kitchen",
    "red striped scarf": "clothing",
    "blue striped shirt": "clothing",
    "blue dotted dress": "clothing",
    "green bottle": "kitchen",
    "bananas": "food",
    "checked bag": "bags",
}


@pytest.fixture(scope="module")
def embedder(effnet: EffnetMiniLMEmbedder) -> Embedder:
    return effnet


@pytest.fixture
def service(settings: Settings, embedder: Embedder) -> Iterator[SearchService]:
    """Two photos of each of 7 products (ids 1-7 and 11-17), with their titles, in the
    catalog and in Milvus."""
    photos = [product_photo(n, seed=1) for n in NAMES] + [
        another_shot(product_photo(n, seed=2)) for n in NAMES
    ]
    titles = NAMES + NAMES
    space = VectorSpace(embedder.identity, 0.6, 0.4)
    vectors = space.fuse(embedder.encode_images(photos), embedder.encode_texts(titles))
    ids = list(range(1, 8)) + list(range(11, 18))
    catalog = Catalog.connect(settings.database_url)
    catalog.import_products(
        [
            ProductCreate(
                product_id=i, name=t, category=CATEGORY[t], price=100.0 * i, seller_id=i % 3
            )
            for i, t in zip(ids, titles, strict=True)
        ]
    )
    HydrateQueue(catalog).store(
        [
            VectorUpdate(product_id=i, version=1, hybrid=v)
            for i, v in zip(ids, vectors, strict=True)
        ],
        space,
    )
    store = VectorStore.connect(settings, space.id)
    store.upsert(
        ProductBatch.build(
            product_ids=ids,
            embeddings=vectors,
            product_names=titles,
            categories=[CATEGORY[t] for t in titles],
            prices=[100.0 * i for i in ids],
            seller_ids=[i % 3 for i in ids],
            image_urls=[f"https://img.example/{i}.jpg" for i in ids],
            created_at=[0] * len(ids),
            last_hydrated_at=[0] * len(ids),
            dim=768,
        )
    )
    yield SearchService(catalog, store, embedder, space)
    store.drop()
    store.close()
    catalog.close()


def test_similar_to_a_product_finds_its_other_photo_and_never_itself(
    service: SearchService,
) -> None:
    for i, _name in enumerate(NAMES):
        hits = service.similar_to_product(i + 1, SearchOptions(limit=5))
        ids = [h.product_id for h in hits]
        assert i + 1 not in ids
        assert ids[0] == i + 11
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)


def test_unknown_product_is_not_found(service: SearchService) -> None:
    with pytest.raises(ProductNotFound):
        service.similar_to_product(999)
    service.catalog.delete(3)
    with pytest.raises(ProductNotFound):  # deleted in the catalog, not yet in Milvus
        service.similar_to_product(3)


def test_a_product_not_hydrated_in_the_catalog_is_looked_up_in_milvus(
    service: SearchService,
) -> None:
    """The catalog is read first; a product it has no vector for yet falls back to Milvus."""
    shirt = service.store.get(13, with_vector=True)
    assert shirt is not None
    assert shirt.embedding is not None
    service.catalog.import_products(
        [ProductCreate(product_id=31, name="shirt", category="clothing", price=1.0, seller_id=1)]
    )
    assert service.catalog.hybrid_vector(31) is None
    with pytest.raises(ProductNotFound):  # in neither
        service.similar_to_product(31)
    service.store.upsert(
        ProductBatch.build(
            product_ids=[31],
            embeddings=shirt.embedding[None, :],
            product_names=["shirt"],
            categories=["clothing"],
            prices=[1.0],
            seller_ids=[1],
            image_urls=[""],
            created_at=[0],
            last_hydrated_at=[0],
            dim=768,
        )
    )
    hits = service.similar_to_product(31, SearchOptions(limit=3))
    assert hits[0].product_id == 13
    assert 31 not in {h.product_id for h in hits}


def test_a_new_photo_finds_the_product(service: SearchService) -> None:
    photo = another_shot(product_photo("checked bag", seed=9), crop=0.05, brightness=0.9)
    hits = service.by_image(photo, options=SearchOptions(limit=3))
    assert {h.product_name for h in hits[:2]} == {"checked bag"}


def test_photo_plus_words_can_move_the_ranking(service: SearchService) -> None:
    photo = product_photo("blue striped shirt", seed=5)
    plain = service.by_image(photo, options=SearchOptions(limit=14))
    steered = service.by_image(photo, "blue dotted dress", SearchOptions(limit=14))

    def rank(hits: list[ProductHit]) -> int:
        return [h.product_name for h in hits].index("blue dotted dress")

    assert rank(steered) < rank(plain)


def test_words_find_titles(service: SearchService) -> None:
    hits = service.by_text("green bottle", SearchOptions(limit=2))
    assert {h.product_name for h in hits} == {"green bottle"}
    with pytest.raises(InvalidInput):
        service.by_text("   ")


def test_filters_and_threshold_apply(service: SearchService) -> None:
    options = SearchOptions(
        limit=10,
        threshold=0.0,
        filters=SearchFilters(category="clothing", max_price=1500, exclude_seller=0),
    )
    hits = service.similar_to_product(2, options)
    assert hits
    for hit in hits:
        assert hit.category == "clothing"
        assert hit.price <= 1500
        assert hit.seller_id != 0
        assert hit.score >= 0.0
    strict = service.similar_to_product(2, SearchOptions(limit=10, threshold=0.999))
    assert strict == []


def test_options_are_validated() -> None:
    for bad in ({"limit": 0}, {"limit": 101}, {"threshold": -0.1}, {"threshold": 1.5}):
        with pytest.raises(InvalidInput):
            SearchOptions(**bad)
    assert np.isclose(SearchOptions().limit, 10)
