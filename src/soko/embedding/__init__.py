"""Embeddings: SigLIP and the offline baseline behind one `Embedder` protocol, hybrid fusion,
and safe image decoding. Heavy libraries (torch, transformers) load only with SigLIP."""

from soko.embedding.base import DIM, Embedder, product_text
from soko.embedding.baseline import BaselineEmbedder
from soko.embedding.hybrid import fuse, normalize, vector_space_id
from soko.embedding.images import decode_image, read_image_file
from soko.embedding.loader import load_embedder
from soko.embedding.siglip import SiglipEmbedder

__all__ = [
    "DIM",
    "BaselineEmbedder",
    "Embedder",
    "SiglipEmbedder",
    "decode_image",
    "fuse",
    "load_embedder",
    "normalize",
    "product_text",
    "read_image_file",
    "vector_space_id",
]
