"""Perceptual hashes of product photos: what says "the same picture" beside the vectors.

A 64-bit hash of a photo (imagehash's pHash, dHash, wHash or aHash) survives re-encoding,
resizing and borders of a few percent better or worse depending on the kind; the
duplicates evaluation (`soko eval-duplicates`) measures which. The one the catalog stores
is `STORED_HASH`. Hashes are kept as signed 64-bit integers (SQL BIGINT); `hash_distance`
is the Hamming distance of two (0: identical, 64: all bits differ).
"""

from __future__ import annotations

from collections.abc import Callable

import imagehash
import numpy as np
from PIL import Image, ImageChops

HASH_BITS = 64

_HASHES: dict[str, Callable[[Image.Image], imagehash.ImageHash]] = {
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
    "whash": imagehash.whash,
    "ahash": imagehash.average_hash,
}
#: The kinds of hash `image_hash` can compute.
HASH_KINDS = tuple(_HASHES)
#: The kind the catalog stores for every photo (chosen by `soko eval-duplicates`).
STORED_HASH = "phash"


def _signed(bits: np.ndarray) -> int:
    value = 0
    for bit in bits.reshape(-1):
        value = (value << 1) | int(bool(bit))
    return value - (1 << HASH_BITS) if value >= 1 << (HASH_BITS - 1) else value


def trim_border(image: Image.Image) -> Image.Image:
    """The photo without a uniform border (the colour of its top-left pixel), if it has one.

    A border added around a re-posted photo moves every pixel of the hash grid; trimming it
    on both sides (stored photo and upload) gives the hash the same picture again. Nothing
    is trimmed when less than half the photo would remain (a plain background, not a
    border).
    """
    rgb = image.convert("RGB")
    background = Image.new("RGB", rgb.size, rgb.getpixel((0, 0)))
    mask = ImageChops.difference(rgb, background).convert("L").point(lambda v: 255 if v > 24 else 0)
    box = mask.getbbox()
    if box is None:
        return rgb
    left, top, right, bottom = box
    if (right - left) * (bottom - top) < 0.5 * rgb.width * rgb.height:
        return rgb
    return rgb.crop(box)


def image_hash(image: Image.Image, kind: str = STORED_HASH) -> int:
    """The photo's 64-bit perceptual hash of this kind (border trimmed), as a signed int64."""
    if kind not in _HASHES:
        raise ValueError(f"unknown hash kind {kind!r}; one of {', '.join(HASH_KINDS)}")
    return _signed(_HASHES[kind](trim_border(image)).hash)


def hash_distance(a: int, b: int) -> int:
    """Hamming distance between two 64-bit hashes (signed or unsigned)."""
    return ((a ^ b) & ((1 << HASH_BITS) - 1)).bit_count()
