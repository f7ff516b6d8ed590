"""Score semantics: Milvus L2 on unit vectors returns the squared distance d in [0, 4];
Soko shows `score = 1 - d/2`, which is the cosine similarity. See docs/scores.md."""

from __future__ import annotations

#: Widening of the range-search radius so float rounding never drops a hit exactly at the
#: threshold; the exact `score >= threshold` test is applied after Milvus answers.
RADIUS_SLACK = 1e-5


def distance_to_score(distance: float) -> float:
    """Cosine similarity of two unit vectors from their squared L2 distance."""
    return float(min(1.0, max(-1.0, 1.0 - distance / 2.0)))


def score_to_distance(score: float) -> float:
    return 2.0 * (1.0 - score)


def threshold_radius(threshold: float) -> float:
    """The L2 range-search radius that keeps every hit with score >= threshold."""
    return score_to_distance(threshold) + RADIUS_SLACK
