"""A circuit breaker in front of Milvus: once it is known to be unreachable, fail at once.

Without it every call during an outage waited out MILVUS_TIMEOUT (retries included) and
held a thread meanwhile, so an API with a dead Milvus answered nothing else either.

    closed --(a call finds Milvus unreachable)--> open
    open   --(probe_interval_s later, one caller probes with a short timeout)--> half-open
    half-open --(the probe answers)--> closed;  --(it does not)--> open again

While open, every call raises `VectorStoreUnavailable` with `retry_after_s` (the API's
`Retry-After`) without touching the network. Only "Milvus did not answer" opens it; a
refusal (bad request, collection not loaded) is an answer and keeps it closed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from soko.errors import VectorStoreUnavailable

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerStatus:
    """For /health: the state, since when (monotonic seconds ago) and the last failure."""

    state: BreakerState
    down_for_s: float
    last_error: str


class CircuitBreaker:
    """One per Milvus connection (a store and its clones share it). Thread-safe."""

    def __init__(
        self,
        *,
        probe_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probe_interval_s = probe_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._down_since = 0.0
        self._last_error = ""

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    def status(self) -> BreakerStatus:
        with self._lock:
            down = self._clock() - self._down_since if self._state is not BreakerState.CLOSED else 0
            return BreakerStatus(self._state, down, self._last_error)

    def retry_after_s(self) -> float:
        """Seconds until the next probe may find Milvus back (at least one)."""
        with self._lock:
            return self._retry_after_locked()

    def _retry_after_locked(self) -> float:
        wait = self._opened_at + self.probe_interval_s - self._clock()
        return max(wait, 1.0)

    def admit(self, probe: Callable[[], object]) -> None:
        """Let a call through, or raise `VectorStoreUnavailable` at once.

        When closed: return. When open and a probe is due, this caller runs `probe` (one
        cheap call with a short timeout; it raises if Milvus does not answer) and, if it
        answers, closes the breaker and goes on with its call. Everyone else is refused.
        """
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return
            due = self._clock() >= self._opened_at + self.probe_interval_s
            if self._state is BreakerState.HALF_OPEN or not due:
                raise self._refusal_locked()
            self._state = BreakerState.HALF_OPEN
        try:
            probe()
        except BaseException as exc:
            self.opened(exc)
            raise self._refusal() from exc
        self.answered()
        log.warning("milvus answers again: circuit closed")

    def answered(self) -> None:
        """Milvus answered a call (whatever it said)."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return
            self._state = BreakerState.CLOSED

    def opened(self, exc: BaseException) -> None:
        """A call found Milvus unreachable: refuse calls until the next probe."""
        with self._lock:
            now = self._clock()
            if self._state is BreakerState.CLOSED:
                self._down_since = now
                log.warning("milvus unreachable: circuit open (%s)", exc)
            self._state = BreakerState.OPEN
            self._opened_at = now
            self._last_error = " ".join(str(exc).split())[:300]

    def _refusal(self) -> VectorStoreUnavailable:
        with self._lock:
            return self._refusal_locked()

    def _refusal_locked(self) -> VectorStoreUnavailable:
        down = self._clock() - self._down_since
        error = VectorStoreUnavailable(
            f"Milvus unavailable (unreachable for {down:.1f}s, next check within "
            f"{self.probe_interval_s:.0f}s): {self._last_error}"
        )
        error.retry_after_s = self._retry_after_locked()
        return error
