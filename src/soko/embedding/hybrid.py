"""Hybrid fusion: `normalize(w_img * normalize(image) + w_txt * normalize(text))`.

A product with only one modality gets that one's vector. The collection records the
embedder *and* the weights (`vector_space_id`), since changing either changes every vector.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from soko.errors import InvalidInput

FloatMatrix = npt.NDArray[np.float32]

#: Below this norm a vector is treated as missing rather than normalised into noise.
EPSILON = 1e-12


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
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    out: FloatMatrix = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > EPSILON)
    return out


def fuse(
    image: FloatMatrix | None,
    text: FloatMatrix | None,
    image_weight: float = 0.6,
    text_weight: float = 0.4,
) -> FloatMatrix:
    """Hybrid vectors for n products. Rows of `image` that are all zero mean "no image"."""
    check_weights(image_weight, text_weight)
    if image is None and text is None:
        raise InvalidInput("a product needs an image or text to be embedded")
    img = normalize(image) if image is not None else None
    txt = normalize(text) if text is not None else None
    if img is not None and txt is not None and img.shape != txt.shape:
        raise InvalidInput(f"image vectors {img.shape} and text vectors {txt.shape} differ")
    if img is None:
        assert txt is not None
        return txt
    if txt is None:
        return img
    has_img = np.linalg.norm(img, axis=1, keepdims=True) > EPSILON
    has_txt = np.linalg.norm(txt, axis=1, keepdims=True) > EPSILON
    # A missing modality falls back to the other one alone, whatever the weights.
    w_img = np.where(has_img, np.where(has_txt, image_weight, 1.0), 0.0).astype(np.float32)
    w_txt = np.where(has_txt, np.where(has_img, text_weight, 1.0), 0.0).astype(np.float32)
    return normalize(w_img * img + w_txt * txt)


def vector_space_id(embedder_identity: str, image_weight: float, text_weight: float) -> str:
    """What the collection records: the embedder and the fusion weights."""
    return f"{embedder_identity};fusion={image_weight:g}/{text_weight:g}"
