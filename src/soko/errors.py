"""One exception hierarchy for Soko.

Callers catch `SokoError` or a precise leaf, never a bare `Exception`. The API and the CLI
each map these to a status code or a one-line message in one table.

    SokoError
    ├── ConfigError                 a setting is missing or malformed (names the variable)
    ├── InvalidInput                a request or file row is malformed (names the field)
    ├── AccessDenied                a product write with writes disabled or a wrong API key
    │   └── MissingCredentials      a product write without an API key
    ├── VectorStoreError
    │   ├── VectorStoreUnavailable  Milvus unreachable or timed out (retriable)
    │   ├── VectorStoreLocked       a Milvus Lite file is open in another process
    │   ├── SchemaMismatch          the collection exists with another schema or index
    │   ├── EmbedderMismatch        the collection holds vectors of another embedder
    │   └── InvalidVector           wrong dimension, NaN or inf (names the product id)
    ├── EmbeddingError
    │   ├── EmbedderUnavailable     the requested embedder cannot load (e.g. no weights)
    │   └── InvalidImage            bytes that are not a usable image
    │       └── ImageTooLarge       over the byte or pixel limit
    ├── ImageFetchError             a product image URL could not be fetched safely
    │   └── BlockedAddress          the URL points at a private/loopback/metadata address
    └── CatalogError
        ├── ProductNotFound
        ├── ProductImageNotFound    no photo Soko may serve (none, or outside the media roots)
        ├── ProductExists
        └── CatalogUnavailable
"""

from __future__ import annotations


class SokoError(Exception):
    """Base class of every error Soko raises on purpose."""

    retriable: bool = False
    #: For retriable errors: when trying again may help (the API's `Retry-After`), or None.
    retry_after_s: float | None = None


class ConfigError(SokoError):
    """A setting from the environment is missing or malformed."""


class InvalidInput(SokoError):
    """Input from a user (request, file row, CLI argument) is malformed."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AccessDenied(SokoError):
    """Product writes are disabled (no SOKO_API_KEY) or the key sent is wrong."""


class MissingCredentials(AccessDenied):
    """A product write came without an API key."""


class VectorStoreError(SokoError):
    """Milvus refused or failed an operation."""


class VectorStoreUnavailable(VectorStoreError):
    """Milvus could not be reached, did not answer in time, or is not ready (e.g. its
    collection is still loading after a restart)."""

    retriable = True
    retry_after_s: float | None = 1.0


class VectorStoreLocked(VectorStoreError):
    """A Milvus Lite database file is already open in another process."""


class SchemaMismatch(VectorStoreError):
    """The existing collection's schema or index differs from the configured one."""


class EmbedderMismatch(VectorStoreError):
    """The collection's vectors were made by another embedder or other fusion weights."""


class InvalidVector(VectorStoreError):
    """A vector has the wrong dimension or holds NaN/inf."""

    def __init__(self, message: str, *, product_id: int | None = None) -> None:
        super().__init__(message)
        self.product_id = product_id


class EmbeddingError(SokoError):
    """An embedder failed."""


class EmbedderUnavailable(EmbeddingError):
    """The requested embedder cannot be loaded here."""


class InvalidImage(EmbeddingError):
    """Bytes that are not an image Soko can use (not an image, truncated, too large)."""


class ImageTooLarge(InvalidImage):
    """An image over SOKO_MAX_IMAGE_BYTES or SOKO_MAX_IMAGE_PIXELS (refused before decoding)."""


class ImageFetchError(SokoError):
    """A product image could not be fetched."""

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


class BlockedAddress(ImageFetchError):
    """The URL resolves to an address Soko refuses to fetch from."""


class CatalogError(SokoError):
    """The product catalog failed."""


class ProductNotFound(CatalogError):
    """No product with that id."""

    def __init__(self, product_id: int) -> None:
        super().__init__(f"Product {product_id} not found")
        self.product_id = product_id


class ProductImageNotFound(CatalogError):
    """The product has no photo that may be served: none, a file that is gone, or a path
    outside the media roots (soko.catalog.media)."""

    def __init__(self, product_id: int) -> None:
        super().__init__(f"Product {product_id} has no image to serve")
        self.product_id = product_id


class ProductExists(CatalogError):
    """A product with that id is already in the catalog."""

    def __init__(self, product_id: int) -> None:
        super().__init__(f"Product {product_id} already exists")
        self.product_id = product_id


class CatalogUnavailable(CatalogError):
    """The catalog database could not be reached."""

    retriable = True
