"""The vector store's contract, run unchanged on Milvus Lite and on a real Milvus server."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from factories import (
    CATEGORIES,
    brute_force_top_k,
    clustered_unit_vectors,
    product_batch,
    unit_vectors,
)
from soko.config import IndexType, Settings
from soko.errors import EmbedderMismatch, InvalidInput, InvalidVector, SchemaMismatch
from soko.products import NAME_MAX_BYTES
from soko.vectorstore import SearchFilters, VectorStore
from soko.vectorstore.backends import backend_for
from soko.vectorstore.schema import CollectionSpec

EMBEDDER = "test-embedder-v1"


@pytest.fixture
def store(settings: Settings) -> Iterator[VectorStore]:
    vs = VectorStore.connect(settings, EMBEDDER)
    yield vs
    vs.drop()
    vs.close()


@pytest.fixture
def loaded(store: VectorStore) -> tuple[VectorStore, np.ndarray]:
    vectors = clustered_unit_vectors(600, clusters=12, seed=3)
    store.upsert(product_batch(np.arange(600), vectors))
    return store, vectors


def test_collection_is_created_once_and_reopened(settings: Settings) -> None:
    first = VectorStore.connect(settings, EMBEDDER)
    try:
        assert first.exists()
        described = first.describe()
        names = [f["name"] for f in described["fields"]]
        assert names == [
            "product_id",
            "embedding",
            "product_name",
            "category",
            "price",
            "seller_id",
            "image_url",
            "created_at",
            "last_hydrated_at",
        ]
        index = first.index_info()
        assert index["index_type"] == "IVF_FLAT"
        assert index["metric_type"] == "L2"
        again = VectorStore.connect(settings, EMBEDDER)
        assert again.ensure_collection() is False
        again.close()
    finally:
        first.drop()
        first.close()


def test_default_index_parameters_match_the_design(settings: Settings) -> None:
    defaults = Settings(
        milvus_address=settings.milvus_address, collection_name=settings.collection_name
    )
    store = VectorStore.connect(defaults, EMBEDDER)
    try:
        info = store.index_info()
        assert (info["index_type"], info["metric_type"]) == ("IVF_FLAT", "L2")
        assert int(info.get("nlist", 1024)) == 1024
        # nlist 1024 on a handful of rows must still answer (brute force until trained).
        vectors = unit_vectors(20, seed=9)
        store.upsert(product_batch(np.arange(20), vectors))
        hits = store.search(vectors[4], limit=3)[0]
        assert hits[0].product_id == 4
    finally:
        store.drop()
        store.close()


def test_another_embedder_is_refused_with_the_reindex_command(
    store: VectorStore, settings: Settings
) -> None:
    with pytest.raises(EmbedderMismatch, match="soko reindex"):
        VectorStore.connect(settings, "some-other-embedder")


def test_another_index_type_is_refused(store: VectorStore, settings: Settings) -> None:
    hnsw = Settings(**{**settings.model_dump(), "index_type": IndexType.HNSW})
    with pytest.raises(SchemaMismatch, match="index rebuild"):
        VectorStore.connect(hnsw, EMBEDDER)


def test_another_schema_is_refused(settings: Settings) -> None:
    other = VectorStore(
        backend_for(settings),
        settings,
        CollectionSpec(name=settings.collection_name, space_id=EMBEDDER, dim=128),
    )
    other.ensure_collection()
    try:
        with pytest.raises(SchemaMismatch, match="embedding"):
            VectorStore.connect(settings, EMBEDDER)
    finally:
        other.drop()
        other.close()


def test_upsert_then_get_round_trips_every_field(store: VectorStore) -> None:
    vectors = unit_vectors(5, seed=1)
    store.upsert(product_batch([10, 11, 12, 13, 14], vectors))
    got = store.get(12)
    assert got is not None
    assert got.product_id == 12
    assert got.product_name == "product 12"
    assert got.category == CATEGORIES[12 % 4]
    assert got.price == pytest.approx(120.0)
    assert got.seller_id == 12 % 7
    assert got.image_url == "https://img.example/12.jpg"
    assert got.created_at == 1_700_000_000
    assert got.last_hydrated_at == 1_700_000_112
    assert got.embedding is not None
    np.testing.assert_allclose(got.embedding, vectors[2], rtol=0, atol=1e-7)
    assert store.get(999) is None
    assert store.count() == 5


def test_upsert_replaces_instead_of_duplicating(store: VectorStore) -> None:
    store.upsert(product_batch([1, 2], unit_vectors(2, seed=1)))
    newer = unit_vectors(2, seed=2)
    store.upsert(product_batch([1, 2], newer, names=["renamed one", "renamed two"]))
    assert store.count() == 2
    got = store.get(1)
    assert got is not None
    assert got.product_name == "renamed one"
    assert got.embedding is not None
    np.testing.assert_allclose(got.embedding, newer[0], atol=1e-7)


def test_delete_by_ids(loaded: tuple[VectorStore, np.ndarray]) -> None:
    store, vectors = loaded
    store.delete([0, 1, 2, 599])
    # Strong: Milvus 2.3.5 stamps deletes with timestamp 0, so Session consistency may not
    # show them yet (README, known limits). Once a strong read has seen them, searches do too.
    assert store.count(strong=True) == 596
    assert store.get_many([0, 1, 2, 3, 599], strong=True).keys() == {3}
    hits = store.search(vectors[1], limit=5)[0]
    assert 1 not in {h.product_id for h in hits}
    store.delete([])  # nothing to do, no error


def test_search_agrees_with_brute_force(loaded: tuple[VectorStore, np.ndarray]) -> None:
    store, vectors = loaded
    queries = vectors[[5, 50, 100, 150, 200, 250, 300, 350, 400, 450]]
    truth = brute_force_top_k(vectors, queries, 10)
    results = store.search(queries, limit=10, nprobe=16)
    found = [{h.product_id for h in hits} for hits in results]
    recall = np.mean([len(f & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.95
    for hits in results:
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        for h in hits:
            assert h.score == pytest.approx(1 - h.distance / 2)
    # The query vector itself is its own best match, with score 1.
    assert results[0][0].product_id == 5
    assert results[0][0].score == pytest.approx(1.0, abs=1e-5)


def test_threshold_keeps_exactly_the_scores_at_or_above_it(
    loaded: tuple[VectorStore, np.ndarray],
) -> None:
    store, vectors = loaded
    query = vectors[7]
    exact = vectors @ query
    ranked = np.sort(exact.astype(np.float64))
    # 8 products above it; halfway to the 9th, so that no score sits on the boundary, where
    # float32 rounding in Milvus and in numpy may disagree.
    threshold = float((ranked[-8] + ranked[-9]) / 2)
    hits = store.search(query, limit=50, threshold=threshold, nprobe=16)[0]
    assert all(h.score >= threshold for h in hits)
    expected = set(np.flatnonzero(exact >= threshold - 1e-6).tolist())
    assert {h.product_id for h in hits} == expected
    assert store.search(query, limit=10, threshold=1.0)[0][0].product_id == 7


def test_filters_match_numpy(loaded: tuple[VectorStore, np.ndarray]) -> None:
    store, vectors = loaded
    ids = np.arange(600)
    price = (ids % 100) * 10.0
    seller = ids % 7
    category = np.array([CATEGORIES[i % 4] for i in ids])
    filters = SearchFilters(
        category="bags", min_price=200.0, max_price=700.0, exclude_seller=3, exclude_ids=(9, 13)
    )
    allowed = (
        (category == "bags")
        & (price >= 200.0)
        & (price <= 700.0)
        & (seller != 3)
        & ~np.isin(ids, [9, 13])
    )
    query = vectors[21]
    hits = store.search(query, limit=15, filters=filters, nprobe=1024)[0]
    got = [h.product_id for h in hits]
    assert got, "the filter should leave candidates"
    assert all(allowed[i] for i in got)
    candidates = np.flatnonzero(allowed)
    truth = candidates[np.argsort(-(vectors[candidates] @ query), kind="stable")][: len(got)]
    assert set(got) == set(truth.tolist())


@pytest.mark.parametrize(
    "attack",
    [
        'x" or category != "y',
        "x' or category != 'y",
        'bags" || product_id >= 0 || category == "',
        "bags\\",
        '\\" or 1==1 or "',
        "shoes\nor true",
    ],
)
def test_filter_values_cannot_break_out_of_the_quotes(store: VectorStore, attack: str) -> None:
    vectors = unit_vectors(6, seed=4)
    categories = ["shoes", "bags", attack, "phones", attack, "x"]
    store.upsert(product_batch(np.arange(6), vectors, categories=categories))
    hits = store.search(vectors[0], limit=6, filters=SearchFilters(category=attack))[0]
    assert sorted(h.product_id for h in hits) == [2, 4]
    assert all(h.category == attack for h in hits)
    none = store.search(vectors[0], limit=6, filters=SearchFilters(category="shoes" + attack))[0]
    assert none == []


def test_control_characters_in_filters_are_refused(store: VectorStore) -> None:
    with pytest.raises(InvalidInput):
        store.search(unit_vectors(1)[0], filters=SearchFilters(category="a\x00b"))


def test_long_text_is_cut_at_a_utf8_boundary(store: VectorStore) -> None:
    name = "Kikapu cha ukili 🧺 fait à la main — " * 20  # ~800 bytes with emoji and accents
    category = "Vitambaa vya kitenge, pagnes et tissus africains ✨ " * 3
    vectors = unit_vectors(1, seed=5)
    store.upsert(product_batch([77], vectors, names=[name], categories=[category]))
    got = store.get(77)
    assert got is not None
    assert len(got.product_name.encode()) <= NAME_MAX_BYTES
    assert name.startswith(got.product_name)
    assert len(name[: len(got.product_name) + 1].encode()) > NAME_MAX_BYTES
    assert len(got.category.encode()) <= 64
    assert category.startswith(got.category)


def test_bad_vectors_are_refused_before_milvus(store: VectorStore) -> None:
    vectors = unit_vectors(3, seed=6)
    vectors[1, 10] = np.nan
    with pytest.raises(InvalidVector, match="product 41"):
        store.upsert(product_batch([40, 41, 42], vectors))
    with pytest.raises(InvalidVector, match="768"):
        product_batch([1], unit_vectors(1, dim=512))
    assert store.count() == 0


def test_bad_search_arguments_are_refused(store: VectorStore) -> None:
    query = unit_vectors(1)[0]
    with pytest.raises(InvalidInput, match="limit"):
        store.search(query, limit=0)
    with pytest.raises(InvalidInput, match="threshold"):
        store.search(query, threshold=1.5)
    with pytest.raises(InvalidInput, match="dimensions"):
        store.search(query[:100])


def test_stats_report_rows_index_and_embedder(loaded: tuple[VectorStore, np.ndarray]) -> None:
    store, _ = loaded
    stats = store.stats()
    assert stats.status == "ok"
    assert stats.row_count == 600
    assert stats.collection == store.name
    assert stats.index_type == "IVF_FLAT"
    assert stats.embedder == EMBEDDER


def test_rebuild_index_with_a_new_nlist(loaded: tuple[VectorStore, np.ndarray]) -> None:
    store, vectors = loaded
    store.flush()
    store.rebuild_index(nlist=8)
    info = store.index_info()
    assert store.spec.nlist == 8
    if store.backend == "server":  # Milvus Lite's describe_index does not report build params
        assert int(info["nlist"]) == 8
    assert info["state"] == "Finished"
    hits = store.search(vectors[3], limit=1)[0]
    assert hits[0].product_id == 3


def test_release_and_load(loaded: tuple[VectorStore, np.ndarray]) -> None:
    store, vectors = loaded
    store.release()
    store.load()
    assert store.search(vectors[2], limit=1)[0][0].product_id == 2


def test_iter_versions_lists_every_row(loaded: tuple[VectorStore, np.ndarray]) -> None:
    store, _ = loaded
    versions = dict(store.iter_versions(batch_size=128))
    assert len(versions) == 600
    assert versions[42] == 1_700_000_142
