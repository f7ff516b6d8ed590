"""One table from Soko errors to HTTP status codes, and the JSON error shape `{"error": ...}`."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from soko.api.metrics import Metrics
from soko.errors import (
    AccessDenied,
    BlockedAddress,
    CatalogUnavailable,
    EmbedderMismatch,
    EmbedderUnavailable,
    ImageFetchError,
    ImageTooLarge,
    InvalidImage,
    InvalidInput,
    InvalidVector,
    MissingCredentials,
    ProductExists,
    ProductImageNotFound,
    ProductNotFound,
    SokoError,
    VectorStoreError,
    VectorStoreUnavailable,
)

log = logging.getLogger(__name__)

#: First matching class wins; order leaves before their parents.
STATUS_CODES: tuple[tuple[type[SokoError], int], ...] = (
    (ProductNotFound, 404),
    (ProductImageNotFound, 404),
    (MissingCredentials, 401),
    (AccessDenied, 403),
    (ProductExists, 409),
    (ImageTooLarge, 413),
    (InvalidInput, 422),
    (InvalidImage, 422),
    (InvalidVector, 422),
    (BlockedAddress, 422),
    (ImageFetchError, 422),
    (VectorStoreUnavailable, 503),
    (CatalogUnavailable, 503),
    (EmbedderUnavailable, 503),
    (EmbedderMismatch, 500),
    (VectorStoreError, 502),
    (SokoError, 500),
)


def status_for(exc: SokoError) -> int:
    return next(code for cls, code in STATUS_CODES if isinstance(exc, cls))


def error_response(
    status: int, message: str, *, retry_after_s: float | None = None
) -> JSONResponse:
    headers = None
    if retry_after_s is not None:
        headers = {"Retry-After": str(max(1, math.ceil(retry_after_s)))}
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            # FastAPI puts the character offset where a field name would be.
            position = error.get("loc", ("body", 0))[-1]
            parts.append(f"body: not valid JSON (at character {position})")
            continue
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "form")]
        field = ".".join(loc) or "request"
        parts.append(f"{field}: {error.get('msg', 'invalid value')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    @app.exception_handler(SokoError)
    async def soko_error(request: Request, exc: SokoError) -> JSONResponse:
        status = status_for(exc)
        if isinstance(exc, VectorStoreError):
            kind = "unavailable" if isinstance(exc, VectorStoreUnavailable) else "error"
            metrics.milvus_errors.labels(kind).inc()
        if isinstance(exc, ProductNotFound):
            return error_response(404, "Product not found")
        if status >= 500:
            log.warning("%s %s failed: %s", request.method, request.url.path, exc)
        # A transient outage (503) says when to come back; Milvus's comes from its breaker.
        retry_after = exc.retry_after_s if status == 503 and exc.retriable else None
        return error_response(status, str(exc), retry_after_s=retry_after)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's "There was an error parsing the body" (JSON that is not UTF-8, a
            # broken multipart body): bad input like any other, so 422 as documented.
            return error_response(
                422, "body: cannot be parsed (JSON must be UTF-8; multipart must be well formed)"
            )
        return error_response(exc.status_code, str(exc.detail))
