"""Embeddings: SigLIP and the offline effnet-minilm behind one `Embedder` protocol, the vector
space they write into (fusion, dimension), and safe image decoding. Heavy libraries (torch,
transformers, onnxruntime) load only with the embedder that needs them."""

from soko.embedding.base import Embedder, product_text
from soko.embedding.hybrid import fuse, normalize
from soko.embedding.images import decode_image, read_image_file
from soko.embedding.loader import load_embedder
from soko.embedding.siglip import SiglipEmbedder
from soko.embedding.space import DIM, VectorSpace

__all__ = [
    "DIM",
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
