"""The listing suggestion's arithmetic: the similarity-weighted category vote, the price band."""

from __future__ import annotations

import pytest

from soko.app.listings import CategoryVote, PriceBand, price_band, vote_categories


def test_the_vote_weights_neighbours_by_similarity_and_keeps_three() -> None:
    votes = vote_categories(
        ["shoes", "hat", "hat", "shirt", "dress", "shoes"], [0.9, 0.3, 0.3, 0.2, 0.1, 0.9]
    )
    assert [v.category for v in votes] == ["shoes", "hat", "shirt"]  # two close beat two far
    assert votes[0].confidence == pytest.approx(1.8 / 2.7, abs=1e-4)
    assert sum(v.confidence for v in votes) < 1  # "dress" got the rest


def test_the_vote_does_not_change_when_every_score_is_scaled() -> None:
    # effnet-minilm's photo query scores 0.832 x the image cosine against hybrid vectors.
    categories = ["a", "b", "a", "c"]
    scores = [0.7, 0.6, 0.5, 0.4]
    assert vote_categories(categories, scores) == vote_categories(
        categories, [0.832 * s for s in scores]
    )


def test_no_neighbours_or_no_similarity_suggests_nothing() -> None:
    assert vote_categories([], []) == []
    assert vote_categories(["a"], [-0.2]) == []
    assert vote_categories(["a", "b"], [0.5, 0.0]) == [CategoryVote("a", 1.0)]


def test_the_price_band_is_the_quartiles_of_real_prices() -> None:
    assert price_band([100, 200, 300, 400, 500, 0]) == PriceBand(200.0, 300.0, 400.0, 5)
    assert price_band([100, 200, 300, 400]) is None  # fewer than 5 prices
    assert price_band([100, 200, 300, 400], minimum=4) == PriceBand(175.0, 250.0, 325.0, 4)
