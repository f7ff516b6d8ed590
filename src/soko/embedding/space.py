"""`VectorSpace`: what every stored vector shares, and the one place that fuses them.

Two vectors can only be compared when one embedder made both and image and text were fused
with the same weights. The space's `id` names exactly that; the catalog and the collection
record it, and a process whose space differs is refused (`soko reindex` moves between spaces).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from soko.embedding.base import FloatMatrix
from soko.embedding.hybrid import check_weights, fuse

if TYPE_CHECKING:
    from soko.config import Settings
    from soko.embedding.base import Embedder

#: Every Soko vector has this many dimensions: the collection's FLOAT_VECTOR dim.
DIM = 768


@dataclass(frozen=True)
class VectorSpace:
    """An embedder's identity, the fusion weights and the dimension of the vectors."""

    embedder: str
    image_weight: float
    text_weight: float
    dim: int = DIM

    def __post_init__(self) -> None:
        check_weights(self.image_weight, self.text_weight)

    @classmethod
    def of(cls, embedder: Embedder, settings: Settings) -> VectorSpace:
        """The space `embedder` writes into with the configured fusion weights."""
        return cls(embedder.identity, settings.image_weight, settings.text_weight, embedder.dim)

    @property
    def id(self) -> str:
        """What the catalog and the collection record, e.g. `siglip:...@abc;fusion=0.6/0.4`."""
        return f"{self.embedder};fusion={self.image_weight:g}/{self.text_weight:g}"

    def fuse(self, image: FloatMatrix | None, text: FloatMatrix | None) -> FloatMatrix:
        """Hybrid vectors: `normalize(w_img * image + w_txt * text)` with this space's weights."""
        return fuse(image, text, self.image_weight, self.text_weight)
