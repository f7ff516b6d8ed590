"""The offline `baseline` embedder: similar photos and similar titles end up close."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from pictures import PRODUCTS, another_shot, product_photo
from soko.embedding import DIM, BaselineEmbedder, Embedder, fuse


@pytest.fixture(scope="module")
def embedder() -> BaselineEmbedder:
    return BaselineEmbedder()


def test_it_is_an_embedder_with_a_versioned_identity(embedder: BaselineEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.identity == "baseline-v1"
    assert embedder.dim == DIM == 768


def test_vectors_are_unit_float32_of_the_right_shape(embedder: BaselineEmbedder) -> None:
    images = [product_photo("red mug"), Image.new("L", (50, 300), 128), Image.new("RGB", (7, 3))]
    vectors = embedder.encode_images(images)
    assert vectors.shape == (3, DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    texts = embedder.encode_texts(["Red leather handbag", "", "   ", "Simu ya mkononi"])
    assert texts.shape == (4, DIM)
    assert texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), [1, 0, 0, 1], atol=1e-5)
    assert embedder.encode_images([]).shape == embedder.encode_texts([]).shape == (0, DIM)


def test_another_shot_of_the_same_object_beats_every_other_object(
    embedder: BaselineEmbedder,
) -> None:
    names = list(PRODUCTS)
    first = embedder.encode_images([product_photo(n, seed=1) for n in names])
    second = embedder.encode_images([another_shot(product_photo(n, seed=2)) for n in names])
    similarity = first @ second.T
    for i, name in enumerate(names):
        others = np.delete(similarity[i], i)
        originals = np.delete(first @ first[i], i)
        closest = names[int(np.argmax(np.where(np.arange(len(names)) == i, -9, similarity[i])))]
        assert similarity[i, i] > others.max(), f"{name}: closer to {closest}"
        assert similarity[i, i] > originals.max(), name


def test_texture_separates_objects_of_the_same_colours(embedder: BaselineEmbedder) -> None:
    shirt, dress = (product_photo(n) for n in ("blue striped shirt", "blue dotted dress"))
    vectors = embedder.encode_images([shirt, another_shot(shirt), dress])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_titles_sharing_words_are_closer_than_unrelated_titles(
    embedder: BaselineEmbedder,
) -> None:
    titles = [
        "Red leather handbag",
        "Leather handbag, brown",
        "Samsung Galaxy A14 phone 64GB",
        "Kitenge dress for women",
        "Kitenge dresses",
        "Wooden cooking spoon",
    ]
    v = embedder.encode_texts(titles)
    s = v @ v.T
    assert s[0, 1] > 0.5 > max(s[0, 2], s[0, 3], s[0, 5])
    # Character n-grams match word forms: "dress" and "dresses".
    assert s[3, 4] > 0.4 > max(s[3, 2], s[3, 5], s[3, 0])
    # Case, accents and punctuation do not matter.
    again = embedder.encode_texts(["RED LEATHER  HANDBAG!!", "Réd leáther handbag"])
    np.testing.assert_allclose(again @ v[0], [1.0, 1.0], atol=1e-5)


def test_image_and_text_parts_are_orthogonal(embedder: BaselineEmbedder) -> None:
    images = embedder.encode_images([product_photo(n) for n in ("red mug", "bananas")])
    texts = embedder.encode_texts(["red mug", "bananas from Meru"])
    assert np.abs(images @ texts.T).max() < 1e-5
    # So a text query ranks hybrid vectors by their text part alone.
    hybrid = fuse(images, texts, 0.6, 0.4)
    ranking = np.argsort(-(hybrid @ embedder.encode_texts(["bananas"])[0]))
    assert ranking[0] == 1


def test_vectors_are_the_same_in_another_process(embedder: BaselineEmbedder) -> None:
    """No dependence on Python's per-process string hashing or on call order."""
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from pictures import product_photo
        from soko.embedding import BaselineEmbedder
        e = BaselineEmbedder()
        v = np.concatenate([e.encode_texts(["Kitenge dress, size 38"]),
                            e.encode_images([product_photo("checked bag")])])
        sys.stdout.write(v.tobytes().hex())
        """
    )
    tests_dir = os.path.dirname(os.path.dirname(__file__))
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": tests_dir},
    )
    theirs = np.frombuffer(bytes.fromhex(result.stdout), dtype=np.float32).reshape(2, DIM)
    ours = np.concatenate(
        [
            embedder.encode_texts(["Kitenge dress, size 38"]),
            embedder.encode_images([product_photo("checked bag")]),
        ]
    )
    np.testing.assert_array_equal(theirs, ours)


def test_batches_give_the_same_vectors_as_single_items(embedder: BaselineEmbedder) -> None:
    photos = [product_photo(n) for n in PRODUCTS]
    batch = embedder.encode_images(photos)
    singles = np.concatenate([embedder.encode_images([p]) for p in photos])
    np.testing.assert_allclose(batch, singles, atol=1e-6)
