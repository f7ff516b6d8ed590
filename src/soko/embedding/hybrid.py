"""Hybrid fusion: `normalize(w_img * normalize(image) + w_txt * normalize(text))`.

A product with only one modality gets that one's vector. `VectorSpace.fuse` calls this with
the space's weights; the weights are part of the space, since changing them changes every
vector.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from soko.embedding.base import FloatMatrix
from soko.errors import InvalidInput

#: A vector whose entries are all below this is treated as missing, not normalised into noise.
EPSILON = 1e-12
#: A fused vector this short came from (nearly) opposite inputs of equal weight.
CANCELLED = 1e-6


def check_weights(image_weight: float, text_weight: float) -> None:
    if not (np.isfinite(image_weight) and np.isfinite(text_weight)):
        raise InvalidInput("fusion weights must be finite numbers")
    if image_weight < 0 or text_weight < 0:
        raise InvalidInput("fusion weights must not be negative")
    if image_weight == 0 and text_weight == 0:
        raise InvalidInput("fusion weights must not both be zero")


def normalize(vectors: npt.ArrayLike) -> FloatMatrix:
    """Row-wise L2 normalisation in float32; all-zero rows stay zero."""
    matrix = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    # Dividing by the largest entry first keeps huge or tiny entries from over/underflowing
    # the float32 sum of squares.
    peak = np.abs(matrix).max(axis=1, keepdims=True) if matrix.size else matrix[:, :1]
    scaled = np.divide(matrix, peak, out=np.zeros_like(matrix), where=peak > EPSILON)
    norms = np.linalg.norm(scaled, axis=1, keepdims=True)
    out: FloatMatrix = np.divide(scaled, norms, out=np.zeros_like(matrix), where=norms > EPSILON)
    return out


def fuse(
    image: FloatMatrix | None,
    text: FloatMatrix | None,
    image_weight: float,
    text_weight: float,
) -> FloatMatrix:
    """Hybrid vectors for n products. An all-zero row (or None) means "no image"/"no text"."""
    check_weights(image_weight, text_weight)
    # Only the ratio matters; scaled to a largest weight of 1, tiny weights (1e-7, say) do not
    # shrink the mix below the cancellation test below.
    largest = max(image_weight, text_weight)
    image_weight, text_weight = image_weight / largest, text_weight / largest
    if image is None and text is None:
        raise InvalidInput("a product needs an image or text to be embedded")
    img = _checked(image, "image")
    txt = _checked(text, "text")
    if img is not None and txt is not None and img.shape != txt.shape:
        raise InvalidInput(f"image vectors {img.shape} and text vectors {txt.shape} differ")
    if img is None or txt is None:
        only = img if img is not None else txt
        assert only is not None
        _require_rows(np.linalg.norm(only, axis=1) > EPSILON)
        return only
    has_img = np.linalg.norm(img, axis=1, keepdims=True) > EPSILON
    has_txt = np.linalg.norm(txt, axis=1, keepdims=True) > EPSILON
    _require_rows((has_img | has_txt)[:, 0])
    # A missing modality falls back to the other one alone, whatever the weights.
    w_img = np.where(has_img, np.where(has_txt, image_weight, 1.0), 0.0).astype(np.float32)
    w_txt = np.where(has_txt, np.where(has_img, text_weight, 1.0), 0.0).astype(np.float32)
    mixed = w_img * img + w_txt * txt
    # Equal weights on opposite vectors cancel out; the heavier (or image) side then wins
    # rather than a zero vector that would be equally far from everything.
    cancelled = np.linalg.norm(mixed, axis=1, keepdims=True) <= CANCELLED
    if cancelled.any():
        mixed = np.where(cancelled, img if image_weight >= text_weight else txt, mixed)
    return normalize(mixed)


def _checked(vectors: FloatMatrix | None, what: str) -> FloatMatrix | None:
    if vectors is None:
        return None
    matrix = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if matrix.ndim != 2:
        raise InvalidInput(f"{what} vectors must be a matrix (n, dim), got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
        raise InvalidInput(f"{what} vectors hold NaN or inf (rows {rows[:10].tolist()})")
    return normalize(matrix)


def _require_rows(present: npt.NDArray[np.bool_]) -> None:
    if not present.all():
        rows = np.flatnonzero(~present)
        raise InvalidInput(
            f"products at rows {rows[:10].tolist()} have neither an image nor text vector"
        )
