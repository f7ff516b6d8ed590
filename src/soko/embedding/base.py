"""The `Embedder` protocol every image/text encoder implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from PIL import Image

FloatMatrix = npt.NDArray[np.float32]


def product_text(name: str, description: str | None = None) -> str:
    """The text that stands for a product in every embedder: name first, as SigLIP reads
    only its first 64 tokens and the name says most."""
    name, description = name.strip(), (description or "").strip()
    if not description:
        return name
    if not name:
        return description
    return f"{name} {description}" if name[-1] in ".!?:;" else f"{name}. {description}"


@runtime_checkable
class Embedder(Protocol):
    """Turns product photos and product text into L2-normalised float32 vectors (n, dim)."""

    @property
    def identity(self) -> str:
        """Model id plus revision or version; recorded on the collection."""
        ...

    @property
    def dim(self) -> int: ...

    def encode_images(self, images: Sequence[Image.Image]) -> FloatMatrix: ...

    def encode_texts(self, texts: Sequence[str]) -> FloatMatrix: ...
