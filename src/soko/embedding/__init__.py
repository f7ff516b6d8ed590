"""Embeddings: the Embedder protocol and hybrid fusion of image and text vectors."""

from soko.embedding.base import Embedder
from soko.embedding.hybrid import fuse, normalize, vector_space_id

__all__ = ["Embedder", "fuse", "normalize", "vector_space_id"]
