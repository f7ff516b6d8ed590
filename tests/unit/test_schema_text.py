from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from soko.products import truncate_utf8
from soko.vectorstore.scores import distance_to_score, score_to_distance, threshold_radius


@given(st.text(), st.integers(min_value=0, max_value=300))
def test_truncate_utf8_keeps_the_longest_valid_prefix(text: str, limit: int) -> None:
    cut = truncate_utf8(text, limit)
    assert len(cut.encode("utf-8")) <= limit
    assert text.startswith(cut)
    if cut != text:  # one more character would not fit
        assert len(text[: len(cut) + 1].encode("utf-8")) > limit


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Kanga 🌍 nzuri", 8, "Kanga "),  # the 4-byte emoji does not fit in 8 bytes
        ("Kanga 🌍 nzuri", 10, "Kanga 🌍"),
        ("Éléphant", 1, ""),  # É is two bytes
        ("café", 4, "caf"),
    ],
)
def test_truncate_utf8_examples(text: str, limit: int, expected: str) -> None:
    assert truncate_utf8(text, limit) == expected


def unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = v / np.linalg.norm(v)
    return out


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_score_is_the_cosine_of_unit_vectors(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = unit(rng.standard_normal(768)), unit(rng.standard_normal(768))
    d = float(((a - b) ** 2).sum())
    assert distance_to_score(d) == pytest.approx(float(a @ b), abs=1e-9)


@given(st.floats(min_value=0.0, max_value=1.0))
def test_threshold_radius_admits_the_threshold_itself(threshold: float) -> None:
    assert score_to_distance(threshold) <= threshold_radius(threshold)
    assert distance_to_score(score_to_distance(threshold)) == pytest.approx(threshold)


def test_scores_are_clamped() -> None:
    assert distance_to_score(-1e-7) == 1.0
    assert distance_to_score(4.0000001) == -1.0
