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
from soko.vectorstore.breaker import CircuitBreaker

log = logging.getLogger(__name__)

T = TypeVar("T")

#: First pause between attempts; it doubles up to MAX_BACKOFF_S while the deadline allows.
INITIAL_BACKOFF_S = 0.2
MAX_BACKOFF_S = 2.0

_UNAVAILABLE_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
#: Milvus did not answer: these open the circuit breaker.
_UNREACHABLE_WORDS = (
    "fail connecting",
    "unavailable",
    "deadline_exceeded",
    "deadline exceeded",
    "timeout",
    "timed out",
    "connection refused",
    "should create connection first",
)
#: Milvus answered, but is not ready yet (e.g. just restarted): retry later, not a refusal.
_NOT_READY_WORDS = (
    "not ready",
    "not loaded",
    "not fully loaded",
    "service not healthy",
    "no available shard",
    "channel not available",
    "collection on recovering",
)
_NOT_LOADED_WORDS = ("not loaded", "not fully loaded")


def _text(exc: BaseException) -> str:
    return str(getattr(exc, "message", "") or exc).lower()


def is_unreachable(exc: BaseException) -> bool:
    """True when Milvus did not answer at all (down, unreachable, or out of time)."""
    if isinstance(exc, MilvusUnavailableException):
        return True
    if isinstance(exc, grpc.RpcError):
        code = exc.code() if callable(getattr(exc, "code", None)) else None
        return code in _UNAVAILABLE_CODES
    if isinstance(exc, MilvusException):
        return any(word in _text(exc) for word in _UNREACHABLE_WORDS)
    return isinstance(exc, ConnectionError | TimeoutError)


def is_not_loaded(exc: BaseException) -> bool:
    """True when Milvus answered that the collection is not loaded (after a restart)."""
    return isinstance(exc, MilvusException) and any(
        word in _text(exc) for word in _NOT_LOADED_WORDS
    )


def is_transient(exc: BaseException) -> bool:
    """True when the failure says nothing about the request, only about reaching Milvus or
    Milvus not being ready yet."""
    if is_unreachable(exc):
        return True
    return isinstance(exc, MilvusException) and any(word in _text(exc) for word in _NOT_READY_WORDS)


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
    breaker: CircuitBreaker | None = None,
    probe: Callable[[], object] | None = None,
    fail_fast: bool = False,
) -> T:
    """Run `fn(remaining_timeout)`, retrying transient failures with backoff until the deadline.

    Only idempotent operations pass `retry=True` (upserts and deletes by primary key are).
    With a `breaker`, a call while Milvus is known to be down is refused at once (after
    `probe` when one is due), and a call that finds Milvus unreachable opens it. `fail_fast`
    calls (what a request waits for: searches, reads) are not retried at all then; the
    others wait for the breaker's probes until their deadline.
    """
    deadline = time.monotonic() + timeout_s
    backoff = INITIAL_BACKOFF_S
    attempt = 1
    while True:
        remaining = max(deadline - time.monotonic(), 0.05)
        try:
            if breaker is not None:
                breaker.admit(probe or (lambda: None))
            result = fn(remaining)
        except VectorStoreUnavailable as refused:  # the breaker is open
            if fail_fast or not retry or time.monotonic() + backoff >= deadline:
                raise
            log.info("milvus %s waiting for milvus: %s", what, refused)
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        except (MilvusException, grpc.RpcError, ConnectionError, TimeoutError) as exc:
            transient = is_transient(exc)
            if attempt == 1 and is_goaway(exc):
                # The server closed an idle channel (a GOAWAY, e.g. "Too many pings" from
                # Milvus Lite's gRPC server after keepalive pings): gRPC reconnects at once,
                # so try again now rather than report Milvus down.
                log.info("milvus %s: channel closed by the server, retrying: %s", what, exc)
                attempt += 1
                continue
            if breaker is not None:
                if is_unreachable(exc):
                    breaker.opened(exc)
                else:
                    breaker.answered()
            if fail_fast or not (retry and transient) or time.monotonic() + backoff >= deadline:
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
        else:
            if breaker is not None:
                breaker.answered()
            return result


#: What gRPC reports when the server ended the connection rather than being unreachable.
_GOAWAY_MARKERS = ("too many pings", "goaway")


def is_goaway(exc: BaseException) -> bool:
    """An UNAVAILABLE caused by the server closing the channel (GOAWAY), not an outage."""
    text = str(exc).lower()
    return any(marker in text for marker in _GOAWAY_MARKERS)


def fail_fast_on_unavailable(error: Exception) -> bool:
    """pymilvus's hook for RPC errors (installed on our connections by `Backend.connect`).

    pymilvus's own answer to UNAVAILABLE is to rebuild the channel while holding one lock
    for the whole process, waiting up to the connect timeout (MILVUS_TIMEOUT), and to retry
    until the call's timeout: every caller then queued behind that lock for ~30 s. Raising
    here ends the call at once; the circuit breaker decides what happens next, and gRPC
    reconnects the channel itself (its reconnect backoff is capped in `Backend`).
    Other errors keep pymilvus's behaviour (False: not handled, no extra retry).
    """
    if isinstance(error, grpc.RpcError) and error.code() == grpc.StatusCode.UNAVAILABLE:
        raise error
    return False
