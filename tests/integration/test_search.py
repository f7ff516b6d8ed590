"""The search service over the real vector store (Lite and server) with the baseline embedder."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from pictures import PRODUCTS, another_shot, product_photo
from soko.config import Settings
from soko.embedding import BaselineEmbedder, fuse, vector_space_id
from soko.errors import InvalidInput, ProductNotFound
from soko.search import SearchOptions, SearchService
from soko.vectorstore import ProductVectors, SearchFilters, SearchHit, VectorStore

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
def embedder() -> BaselineEmbedder:
    return BaselineEmbedder()


@pytest.fixture
def service(settings: Settings, embedder: BaselineEmbedder) -> Iterator[SearchService]:
    """Two photos of each of 7 products (ids 1-7 and 11-17), with their titles, in Milvus."""
    photos = [product_photo(n, seed=1) for n in NAMES] + [
        another_shot(product_photo(n, seed=2)) for n in NAMES
    ]
    titles = NAMES + NAMES
    vectors = fuse(embedder.encode_images(photos), embedder.encode_texts(titles))
    ids = list(range(1, 8)) + list(range(11, 18))
    store = VectorStore.connect(settings, vector_space_id(embedder.identity, 0.6, 0.4))
    store.upsert(
        ProductVectors.build(
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
    yield SearchService(store, embedder)
    store.drop()
    store.close()


def test_similar_to_a_product_finds_its_other_photo_and_never_itself(
    service: SearchService,
) -> None:
    for i, _name in enumerate(NAMES):
        hits = service.similar_to_product(i + 1, SearchOptions(limit=5))
        ids = [h.product.product_id for h in hits]
        assert i + 1 not in ids
        assert ids[0] == i + 11
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)


def test_unknown_product_is_not_found(service: SearchService) -> None:
    with pytest.raises(ProductNotFound):
        service.similar_to_product(999)


def test_a_new_photo_finds_the_product(service: SearchService) -> None:
    photo = another_shot(product_photo("checked bag", seed=9), crop=0.05, brightness=0.9)
    hits = service.by_image(photo, options=SearchOptions(limit=3))
    assert {h.product.product_name for h in hits[:2]} == {"checked bag"}


def test_photo_plus_words_can_move_the_ranking(service: SearchService) -> None:
    photo = product_photo("blue striped shirt", seed=5)
    plain = service.by_image(photo, options=SearchOptions(limit=14))
    steered = service.by_image(photo, "blue dotted dress", SearchOptions(limit=14))

    def rank(hits: list[SearchHit]) -> int:
        return [h.product.product_name for h in hits].index("blue dotted dress")

    assert rank(steered) < rank(plain)


def test_words_find_titles(service: SearchService) -> None:
    hits = service.by_text("green bottle", SearchOptions(limit=2))
    assert {h.product.product_name for h in hits} == {"green bottle"}
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
        assert hit.product.category == "clothing"
        assert hit.product.price <= 1500
        assert hit.product.seller_id != 0
        assert hit.score >= 0.0
    strict = service.similar_to_product(2, SearchOptions(limit=10, threshold=0.999))
    assert strict == []


def test_options_are_validated() -> None:
    for bad in ({"limit": 0}, {"limit": 101}, {"threshold": -0.1}, {"threshold": 1.5}):
        with pytest.raises(InvalidInput):
            SearchOptions(**bad)
    assert np.isclose(SearchOptions().limit, 10)
