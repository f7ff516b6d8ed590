"""Soko visual search: product-similarity search over SigLIP vectors in Milvus."""

__version__ = "0.1.0"
