"""Translate pymilvus/gRPC failures into Soko errors and retry the ones that are transient.

`MilvusException` is caught here and nowhere else outside `vectorstore/`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import grpc
from pymilvus.exceptions import MilvusException, MilvusUnavailableException

from soko.errors import SokoError, VectorStoreError, VectorStoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

#: First pause between attempts; it doubles up to MAX_BACKOFF_S while the deadline allows.
INITIAL_BACKOFF_S = 0.2
MAX_BACKOFF_S = 2.0

_UNAVAILABLE_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_UNAVAILABLE_WORDS = (
    "fail connecting",
    "unavailable",
    "deadline_exceeded",
    "deadline exceeded",
    "timeout",
    "timed out",
    "connection refused",
    "should create connection first",
    "not ready",
)


def is_transient(exc: BaseException) -> bool:
    """True when the failure says nothing about the request, only about reaching Milvus."""
    if isinstance(exc, MilvusUnavailableException):
        return True
    if isinstance(exc, grpc.RpcError):
        code = exc.code() if callable(getattr(exc, "code", None)) else None
        return code in _UNAVAILABLE_CODES
    if isinstance(exc, MilvusException):
        text = str(getattr(exc, "message", "") or exc).lower()
        return any(word in text for word in _UNAVAILABLE_WORDS)
    return isinstance(exc, ConnectionError | TimeoutError)


def translate(exc: BaseException, what: str) -> SokoError:
    if is_transient(exc):
        return VectorStoreUnavailable(f"Milvus unavailable during {what}: {_describe(exc)}")
    return VectorStoreError(f"Milvus refused {what}: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(message).split())[:500]


def call_with_retry(
    what: str,
    fn: Callable[[float], T],
    *,
    timeout_s: float,
    retry: bool = True,
) -> T:
    """Run `fn(remaining_timeout)`, retrying transient failures with backoff until the deadline.

    Only idempotent operations pass `retry=True` (upserts and deletes by primary key are).
    """
    deadline = time.monotonic() + timeout_s
    backoff = INITIAL_BACKOFF_S
    attempt = 1
    while True:
        remaining = max(deadline - time.monotonic(), 0.05)
        try:
            return fn(remaining)
        except (MilvusException, grpc.RpcError, ConnectionError, TimeoutError) as exc:
            transient = is_transient(exc)
            if not (retry and transient) or time.monotonic() + backoff >= deadline:
                raise translate(exc, what) from exc
            log.info(
                "milvus %s failed (attempt %d), retrying in %.1fs: %s",
                what,
                attempt,
                backoff,
                _describe(exc),
            )
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            attempt += 1
