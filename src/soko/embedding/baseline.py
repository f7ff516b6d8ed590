"""`baseline`: a deterministic embedder with no weights, for machines without SigLIP.

It is not SigLIP and does not pretend to be: it knows nothing about what objects *are*.
It makes photos that look alike close (same colours in the same places, same edges and
texture) and texts that share words or word pieces close. See docs/embedding.md.

Image features are projected into `IMAGE_DIMS` coordinates and text features into the other
`TEXT_DIMS`, then both are turned by one fixed random rotation of the 768-space (so every
coordinate carries information). Image and text vectors are therefore exactly orthogonal: a
text query ranks hybrid vectors by their text part alone, and no cross-modal similarity is
invented.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence
from functools import cached_property
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from soko.embedding.base import FloatMatrix
from soko.embedding.hybrid import normalize
from soko.embedding.space import DIM

#: Bump when any feature or constant below changes: it is part of the identity recorded on
#: the collection, so old vectors are never mixed with new ones.
VERSION = "1"

IMAGE_DIMS = 512
TEXT_DIMS = DIM - IMAGE_DIMS

#: Side of the square every photo is resampled to before feature extraction.
SIDE = 96
#: Seeds of the fixed projections (any change is a new VERSION).
IMAGE_SEED = 20240601
TEXT_SEED = 20240602
ROTATION_SEED = 20240603

# Colour: soft joint histogram in CIELAB; chroma-only histogram (brightness invariant).
L_BINS, A_BINS, B_BINS = 4, 6, 6
AB_RANGE = 64.0
CHROMA_BINS = 8
# Edges: unsigned gradient orientation over a 1x1 + 2x2 + 4x4 pyramid of cells.
ORIENTATIONS = 9
# Relative weight of each feature block before projection (chosen by hand, see the docs).
BLOCK_WEIGHTS = {
    "lab": 1.0,
    "chroma": 1.0,
    "layout": 0.8,
    "quadrant_lab": 0.8,
    "hog": 1.0,
    "lbp": 0.6,
}

# Text: hashed features into a sparse space, then a fixed Gaussian projection.
TEXT_BUCKETS = 4096
CHAR_NGRAMS = (3, 4, 5)
#: Weight of a word ("w"), a word bigram ("b") and a character n-gram ("c").
_FEATURE_WEIGHTS = {"w": 1.0, "b": 0.6, "c": 0.35}
#: Words that say nothing about a product, in the marketplace's languages (English, Swahili).
# fmt: off
STOPWORDS = frozenset({
    "a", "an", "and", "or", "the", "of", "for", "with", "in", "on", "to", "by", "from", "at",
    "is", "are", "this", "that", "new",
    "na", "ya", "wa", "la", "za", "kwa", "cha", "vya", "ni", "katika",
})
# fmt: on
_WORD = re.compile(r"[^\W_]+")
_Scalar = TypeVar("_Scalar", bound=np.generic)


class BaselineEmbedder:
    """Colour, edge and texture statistics for images; hashed n-grams for text (768-dim)."""

    @property
    def identity(self) -> str:
        return f"baseline-v{VERSION}"

    @property
    def dim(self) -> int:
        return DIM

    @cached_property
    def _image_projection(self) -> FloatMatrix:
        return _gaussian(IMAGE_SEED, _image_feature_size(), IMAGE_DIMS)

    @cached_property
    def _text_projection(self) -> FloatMatrix:
        return _gaussian(TEXT_SEED, TEXT_BUCKETS, TEXT_DIMS)

    @cached_property
    def _rotation(self) -> FloatMatrix:
        # Orthogonal, so it keeps every inner product (and the image/text orthogonality).
        q, r = np.linalg.qr(np.random.default_rng(ROTATION_SEED).standard_normal((DIM, DIM)))
        rotation: FloatMatrix = (q * np.sign(np.diag(r))).astype(np.float32)
        return rotation

    def encode_images(self, images: Sequence[Image.Image]) -> FloatMatrix:
        out = np.zeros((len(images), DIM), dtype=np.float32)
        if not images:
            return out
        features = np.stack([image_features(image) for image in images])
        out[:, :IMAGE_DIMS] = normalize(features @ self._image_projection)
        return normalize(out @ self._rotation)

    def encode_texts(self, texts: Sequence[str]) -> FloatMatrix:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        hashed = np.stack([text_features(text) for text in texts])
        # Empty or all-stopword text stays a zero row: "no text", which fusion understands.
        out[:, IMAGE_DIMS:] = normalize(hashed @ self._text_projection)
        return normalize(out @ self._rotation)


def _gaussian(seed: int, rows: int, cols: int) -> FloatMatrix:
    rng = np.random.default_rng(seed)
    matrix: FloatMatrix = (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)
    return matrix


# --- image features -------------------------------------------------------------------------


def image_features(image: Image.Image) -> FloatMatrix:
    """The concatenated, block-normalised feature vector of one image (before projection)."""
    rgb = image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    lab = _srgb_to_lab(np.asarray(rgb, dtype=np.float32) / 255.0)
    blocks = {
        "lab": _lab_histogram(lab, _centre_weights(SIDE)),
        "chroma": _chroma_histogram(lab, _centre_weights(SIDE)),
        "layout": _layout(lab),
        "quadrant_lab": np.concatenate(
            [_lab_histogram(q, None, bins=(2, 3, 3)) for q in _cells(lab, 2)]
        ),
        "hog": _orientation_pyramid(lab[..., 0]),
        "lbp": np.concatenate([_lbp_histogram(c) for c in [lab[..., 0], *_cells(lab[..., 0], 2)]]),
    }
    parts = [BLOCK_WEIGHTS[name] * _unit(np.sqrt(block)) for name, block in blocks.items()]
    return np.concatenate(parts).astype(np.float32)


def _image_feature_size() -> int:
    blank = Image.new("RGB", (SIDE, SIDE))
    return int(image_features(blank).shape[0])


def _unit(vector: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 1e-12 else vector).astype(np.float32)


def _srgb_to_lab(rgb: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """sRGB in [0, 1] -> CIELAB (D65): perceptual distances for the colour histograms."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array(
        [[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]],
        dtype=np.float32,
    )
    xyz /= np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab.astype(np.float32)


def _centre_weights(side: int) -> npt.NDArray[np.float32]:
    """Product photos centre the product; the border is mostly background."""
    axis = (np.arange(side, dtype=np.float32) + 0.5) / side - 0.5
    weights = np.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * 0.3**2))
    return weights.astype(np.float32)


def _soft_bins(
    values: npt.NDArray[np.float32], low: float, high: float, bins: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Linear (triangular) assignment to bin centres, so small shifts move mass smoothly."""
    position = np.clip((values - low) / (high - low) * bins - 0.5, 0, bins - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, bins - 1)
    frac = (position - lower).astype(np.float32)
    return lower, upper, frac


def _lab_histogram(
    lab: npt.NDArray[np.float32],
    weights: npt.NDArray[np.float32] | None,
    bins: tuple[int, int, int] = (L_BINS, A_BINS, B_BINS),
) -> npt.NDArray[np.float32]:
    nl, na, nb = bins
    w = np.ones(lab.shape[:2], np.float32) if weights is None else weights
    axes = [
        _soft_bins(lab[..., 0], 0.0, 100.0, nl),
        _soft_bins(lab[..., 1], -AB_RANGE, AB_RANGE, na),
        _soft_bins(lab[..., 2], -AB_RANGE, AB_RANGE, nb),
    ]
    hist = np.zeros(nl * na * nb, np.float64)
    for corner in range(8):
        index = np.zeros(lab.shape[:2], np.int64)
        weight = w.astype(np.float32)
        for axis, (lower, upper, frac) in enumerate(axes):
            use_upper = (corner >> axis) & 1
            index = index * bins[axis] + (upper if use_upper else lower)
            weight = weight * (frac if use_upper else 1.0 - frac)
        hist += np.bincount(index.ravel(), weight.ravel(), minlength=hist.size)
    normalised: npt.NDArray[np.float32] = (hist / max(hist.sum(), 1e-12)).astype(np.float32)
    return normalised


def _chroma_histogram(
    lab: npt.NDArray[np.float32], weights: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """a*b* only: the hue/saturation distribution, unchanged by lighting level."""
    flat = np.concatenate([lab[..., :1] * 0 + 50.0, lab[..., 1:]], axis=-1)
    return _lab_histogram(flat, weights, bins=(1, CHROMA_BINS, CHROMA_BINS))


def _cells(array: npt.NDArray[_Scalar], grid: int) -> list[npt.NDArray[_Scalar]]:
    step = array.shape[0] // grid
    return [
        array[r * step : (r + 1) * step, c * step : (c + 1) * step]
        for r in range(grid)
        for c in range(grid)
    ]


def _layout(lab: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A 4x4 thumbnail of mean L*a*b* (shifted non-negative): where the colours are."""
    means = np.stack([cell.reshape(-1, 3).mean(axis=0) for cell in _cells(lab, 4)])
    shifted = (means + np.array([0.0, AB_RANGE * 2, AB_RANGE * 2], np.float32)) / np.array(
        [100.0, AB_RANGE * 4, AB_RANGE * 4], np.float32
    )
    return np.clip(shifted, 0.0, 1.0).ravel().astype(np.float32)


def _orientation_pyramid(luminance: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Histograms of gradient orientation (HOG-like) over 1 + 4 + 16 cells."""
    padded = np.pad(luminance, 1, mode="edge")
    gx = (padded[1:-1, 2:] - padded[1:-1, :-2]) * 2 + (padded[:-2, 2:] - padded[:-2, :-2])
    gx += padded[2:, 2:] - padded[2:, :-2]
    gy = (padded[2:, 1:-1] - padded[:-2, 1:-1]) * 2 + (padded[2:, :-2] - padded[:-2, :-2])
    gy += padded[2:, 2:] - padded[:-2, 2:]
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    lower, upper, frac = _soft_bins(angle.astype(np.float32), 0.0, float(np.pi), ORIENTATIONS)
    parts = []
    for grid in (1, 2, 4):
        for cell_lo, cell_hi, cell_f, cell_m in zip(
            _cells(lower, grid),
            _cells(upper, grid),
            _cells(frac, grid),
            _cells(magnitude, grid),
            strict=True,
        ):
            hist = np.bincount(cell_lo.ravel(), (cell_m * (1 - cell_f)).ravel(), ORIENTATIONS)
            hist += np.bincount(cell_hi.ravel(), (cell_m * cell_f).ravel(), ORIENTATIONS)
            # Each cell normalised on its own (as HOG does), damped so flat cells stay small.
            parts.append(hist / (np.linalg.norm(hist) + 50.0))
    return np.concatenate(parts).astype(np.float32)


def _lbp_histogram(luminance: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rotation-invariant uniform local binary patterns (10 codes): fine texture."""
    centre = luminance[1:-1, 1:-1]
    height, width = luminance.shape
    offsets = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
    bits = np.stack(
        [
            luminance[1 + dy : height - 1 + dy, 1 + dx : width - 1 + dx] >= centre + 1.0
            for dy, dx in offsets
        ]
    ).astype(np.int64)
    transitions = np.abs(np.diff(np.concatenate([bits, bits[:1]]), axis=0)).sum(axis=0)
    ones = bits.sum(axis=0)
    codes = np.where(transitions <= 2, ones, 9)
    hist = np.bincount(codes.ravel(), minlength=10).astype(np.float32)
    return hist / max(float(hist.sum()), 1.0)


# --- text features --------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Lower-case words without accents or punctuation (`Kitenge-Dress!` -> kitenge, dress)."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD.findall(plain)


def text_features(text: str) -> npt.NDArray[np.float32]:
    """Signed feature hashing of words, word bigrams and character n-grams of each word."""
    tokens = [w for w in words(text) if w not in STOPWORDS]
    counts: Counter[str] = Counter()
    for token in tokens:
        counts["w:" + token] += 1
        padded = f"<{token}>"
        for n in CHAR_NGRAMS:
            counts.update("c:" + padded[i : i + n] for i in range(len(padded) - n + 1))
    counts.update(f"b:{left} {right}" for left, right in itertools.pairwise(tokens))
    hashed = np.zeros(TEXT_BUCKETS, np.float32)
    for feature, count in counts.items():
        # crc32, not hash(): Python's str hash changes with every process.
        code = zlib.crc32(feature.encode("utf-8"))
        sign = 1.0 if code & 0x80000000 else -1.0
        # Sublinear term frequency: a word repeated in a description is not 5x the product.
        hashed[code % TEXT_BUCKETS] += sign * _FEATURE_WEIGHTS[feature[0]] * (1.0 + np.log(count))
    return hashed
