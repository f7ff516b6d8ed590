"""The `Embedder` protocol every image/text encoder implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from PIL import Image

FloatMatrix = npt.NDArray[np.float32]


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
