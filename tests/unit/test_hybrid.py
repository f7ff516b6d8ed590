"""Hybrid fusion: properties that must hold for any vectors and weights (Hypothesis)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from soko.config import Settings
from soko.embedding import VectorSpace, fuse, normalize
from soko.errors import InvalidInput

DIM = 16  # fusion is dimension-agnostic; small vectors keep Hypothesis fast

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32)
weights = st.floats(0.0, 100.0, allow_nan=False, allow_infinity=False)


def matrices(rows: int) -> st.SearchStrategy[npt.NDArray[np.float32]]:
    return arrays(np.float32, (rows, DIM), elements=finite).filter(
        lambda m: bool((np.abs(m).max(axis=1) > 1e-3).all())
    )


@st.composite
def pairs(draw: st.DrawFn) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    rows = draw(st.integers(1, 5))
    return draw(matrices(rows)), draw(matrices(rows))


@st.composite
def weight_pairs(draw: st.DrawFn) -> tuple[float, float]:
    w_img, w_txt = draw(weights), draw(weights)
    assume(w_img > 0 or w_txt > 0)
    return w_img, w_txt


def unit_norms(m: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    norms: npt.NDArray[np.float64] = np.linalg.norm(m.astype(np.float64), axis=1)
    return norms


@given(pairs(), weight_pairs())
def test_hybrid_vectors_have_unit_norm(
    vectors: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]], w: tuple[float, float]
) -> None:
    image, text = vectors
    fused = fuse(image, text, *w)
    assert fused.dtype == np.float32
    assert fused.shape == image.shape
    np.testing.assert_allclose(unit_norms(fused), 1.0, atol=1e-5)


@given(pairs(), weight_pairs())
def test_swapping_image_and_text_with_their_weights_changes_nothing(
    vectors: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]], w: tuple[float, float]
) -> None:
    image, text = vectors
    assume(w[0] != w[1])  # with equal weights, opposite inputs fall back to the image side
    np.testing.assert_allclose(fuse(image, text, *w), fuse(text, image, w[1], w[0]), atol=1e-5)


@given(pairs(), weight_pairs(), st.floats(1e-3, 1e3), st.floats(1e-3, 1e3))
def test_scaling_inputs_or_both_weights_changes_nothing(
    vectors: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]],
    w: tuple[float, float],
    scale: float,
    weight_scale: float,
) -> None:
    image, text = vectors
    reference = fuse(image, text, *w)
    np.testing.assert_allclose(fuse(image * scale, text, *w), reference, atol=1e-4)
    np.testing.assert_allclose(
        fuse(image, text, w[0] * weight_scale, w[1] * weight_scale), reference, atol=1e-4
    )


@given(pairs())
def test_weights_one_zero_give_the_image_vector_and_zero_one_the_text(
    vectors: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]],
) -> None:
    image, text = vectors
    np.testing.assert_allclose(fuse(image, text, 1.0, 0.0), normalize(image), atol=1e-6)
    np.testing.assert_allclose(fuse(image, text, 0.0, 1.0), normalize(text), atol=1e-6)


@given(pairs(), weight_pairs())
def test_a_product_with_one_modality_gets_that_one(
    vectors: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]], w: tuple[float, float]
) -> None:
    image, text = vectors
    no_text = np.zeros_like(text)
    no_image = np.zeros_like(image)
    np.testing.assert_allclose(fuse(image, no_text, *w), normalize(image), atol=1e-6)
    np.testing.assert_allclose(fuse(no_image, text, *w), normalize(text), atol=1e-6)
    np.testing.assert_allclose(fuse(image, None, *w), normalize(image), atol=1e-6)
    np.testing.assert_allclose(fuse(None, text, *w), normalize(text), atol=1e-6)


@given(pairs(), weight_pairs())
def test_rows_are_fused_independently(
    vectors: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]], w: tuple[float, float]
) -> None:
    image, text = vectors
    text[0] = 0.0  # a batch mixing complete products and one without text
    batch = fuse(image, text, *w)
    for i in range(len(image)):
        np.testing.assert_allclose(batch[i : i + 1], fuse(image[i : i + 1], text[i : i + 1], *w))


@settings(max_examples=50)
@given(matrices(3), weight_pairs())
def test_identical_image_and_text_fuse_to_that_vector(
    image: npt.NDArray[np.float32], w: tuple[float, float]
) -> None:
    np.testing.assert_allclose(fuse(image, image.copy(), *w), normalize(image), atol=1e-5)


def test_the_default_mix_is_point_six_image_point_four_text() -> None:
    defaults = Settings()
    space = VectorSpace("e", defaults.image_weight, defaults.text_weight, dim=2)
    image = np.array([[1.0, 0.0]], dtype=np.float32)
    text = np.array([[0.0, 3.0]], dtype=np.float32)  # normalised before mixing
    expected = np.array([[0.6, 0.4]]) / np.hypot(0.6, 0.4)
    np.testing.assert_allclose(space.fuse(image, text), expected, atol=1e-6)


def test_opposite_vectors_with_equal_weights_fall_back_to_the_image() -> None:
    image = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    fused = fuse(image, -image, 0.5, 0.5)
    np.testing.assert_allclose(fused, normalize(image), atol=1e-6)


@pytest.mark.parametrize(
    ("w_img", "w_txt", "message"),
    [
        (-0.1, 0.4, "negative"),
        (0.6, -1.0, "negative"),
        (0.0, 0.0, "both be zero"),
        (float("nan"), 0.4, "finite"),
        (0.6, float("inf"), "finite"),
    ],
)
def test_bad_weights_are_refused(w_img: float, w_txt: float, message: str) -> None:
    image = np.ones((1, 4), dtype=np.float32)
    with pytest.raises(InvalidInput, match=message):
        fuse(image, image, w_img, w_txt)


def test_a_product_with_neither_image_nor_text_is_refused_by_row() -> None:
    image = np.ones((3, 4), dtype=np.float32)
    text = np.ones((3, 4), dtype=np.float32)
    image[1] = 0.0
    text[1] = 0.0
    with pytest.raises(InvalidInput, match=r"rows \[1\]"):
        fuse(image, text, 0.6, 0.4)
    with pytest.raises(InvalidInput, match="image or text"):
        fuse(None, None, 0.6, 0.4)


def test_nan_vectors_and_mismatched_shapes_are_refused() -> None:
    image = np.ones((2, 4), dtype=np.float32)
    broken = image.copy()
    broken[1, 2] = np.nan
    with pytest.raises(InvalidInput, match=r"NaN or inf \(rows \[1\]\)"):
        fuse(image, broken, 0.6, 0.4)
    with pytest.raises(InvalidInput, match="differ"):
        fuse(image, np.ones((2, 5), dtype=np.float32), 0.6, 0.4)


def test_normalize_survives_huge_and_tiny_entries() -> None:
    vectors = np.array([[3e38, 3e38], [1e-30, 0.0], [0.0, 0.0]], dtype=np.float32)
    out = normalize(vectors)
    np.testing.assert_allclose(out[0], [2**-0.5, 2**-0.5], rtol=1e-6)
    assert not out[1:].any()  # below EPSILON counts as missing, not as noise scaled up


def test_the_vector_space_id_names_embedder_and_weights() -> None:
    assert VectorSpace("emb-v1", 0.6, 0.4).id == "emb-v1;fusion=0.6/0.4"
    assert VectorSpace("emb-v1", 0.6, 0.4).id != VectorSpace("emb-v1", 0.7, 0.3).id
    assert VectorSpace("emb-v1", 0.6, 0.4).dim == 768


@pytest.mark.parametrize(("image_weight", "text_weight"), [(0.0, 0.0), (-0.1, 1.0), (np.inf, 1)])
def test_a_vector_space_refuses_unusable_weights(image_weight: float, text_weight: float) -> None:
    with pytest.raises(InvalidInput, match="weights"):
        VectorSpace("emb-v1", image_weight, text_weight)


def test_tiny_weights_fuse_like_their_ratio() -> None:
    """Found by Hypothesis: weights of 3e-7 and 6e-8 shrank the mix below the cancellation
    test, so the image alone was returned instead of the weighted mix."""
    image = np.ones((1, 16), dtype=np.float32)
    text = image.copy()
    text[0, 0] = 0
    tiny = fuse(image, text, 3.3644784900773437e-07, 5.960464477539063e-08)
    same_ratio = fuse(image, text, 1.0, 5.960464477539063e-08 / 3.3644784900773437e-07)
    np.testing.assert_allclose(tiny, same_ratio, atol=1e-6)
