"""Embeddings: SigLIP and the offline baseline behind one `Embedder` protocol, the vector
space they write into (fusion, dimension), and safe image decoding. Heavy libraries (torch,
transformers) load only with SigLIP."""

from soko.embedding.base import Embedder, product_text
from soko.embedding.baseline import BaselineEmbedder
from soko.embedding.hybrid import fuse, normalize
from soko.embedding.images import decode_image, read_image_file
from soko.embedding.loader import load_embedder
from soko.embedding.siglip import SiglipEmbedder
from soko.embedding.space import DIM, VectorSpace

__all__ = [
    "DIM",
    "BaselineEmbedder",
    "Embedder",
    "SiglipEmbedder",
    "VectorSpace",
    "decode_image",
    "fuse",
    "load_embedder",
    "normalize",
    "product_text",
    "read_image_file",
]
