"""The circuit breaker's states, on a clock the test moves."""

from __future__ import annotations

import grpc
import pytest

from soko.errors import VectorStoreUnavailable
from soko.vectorstore.breaker import BreakerState, CircuitBreaker
from soko.vectorstore.errors import call_with_retry


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def down() -> None:
    raise ConnectionError("connection refused")


def test_open_refuses_at_once_until_a_probe_finds_milvus_back() -> None:
    clock = Clock()
    breaker = CircuitBreaker(probe_interval_s=1.0, clock=clock)
    breaker.admit(down)  # closed: no probe, the call goes ahead
    breaker.opened(ConnectionError("connection refused"))
    assert breaker.state is BreakerState.OPEN

    probes: list[str] = []
    with pytest.raises(VectorStoreUnavailable, match="connection refused") as info:
        breaker.admit(lambda: probes.append("probe"))
    assert probes == []  # not due yet: refused without a call
    assert info.value.retry_after_s == 1.0

    clock.now += 1.0
    with pytest.raises(VectorStoreUnavailable):
        breaker.admit(down)  # the probe fails: open again, for another interval
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(VectorStoreUnavailable):
        breaker.admit(lambda: probes.append("probe"))
    assert probes == []

    clock.now += 1.0
    breaker.admit(lambda: probes.append("probe"))
    assert probes == ["probe"]
    assert breaker.status().state is BreakerState.CLOSED
    assert breaker.status().down_for_s == 0


def test_one_caller_probes_while_the_others_are_refused() -> None:
    clock = Clock()
    breaker = CircuitBreaker(probe_interval_s=1.0, clock=clock)
    breaker.opened(TimeoutError("deadline exceeded"))
    clock.now += 1.5

    def probe_while_another_arrives() -> None:
        with pytest.raises(VectorStoreUnavailable):
            breaker.admit(lambda: None)
        assert breaker.state is BreakerState.HALF_OPEN

    breaker.admit(probe_while_another_arrives)
    assert breaker.status().state is BreakerState.CLOSED


class GoAway(grpc.RpcError):  # type: ignore[misc]  # grpc is untyped
    """What gRPC raises when the server closes the channel (details as Milvus Lite sends)."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def __str__(self) -> str:
        return 'status = StatusCode.UNAVAILABLE details = "Too many pings"'


def test_a_channel_closed_by_the_server_is_retried_not_an_outage() -> None:
    """Seen in make test: after an idle minute Milvus Lite's gRPC server sent GOAWAY ("Too
    many pings") and the next search was answered 503 although Milvus was up."""
    breaker = CircuitBreaker(probe_interval_s=1.0, clock=Clock())
    calls: list[float] = []

    def search(timeout: float) -> str:
        calls.append(timeout)
        if len(calls) == 1:
            raise GoAway()
        return "hits"

    assert call_with_retry("search", search, timeout_s=5, breaker=breaker, fail_fast=True) == "hits"
    assert len(calls) == 2
    assert breaker.state.name == "CLOSED"
    # Twice in a row is an outage like any other.
    with pytest.raises(VectorStoreUnavailable):
        call_with_retry(
            "search", lambda t: (_ for _ in ()).throw(GoAway()), timeout_s=5, breaker=breaker,
            fail_fast=True,
        )  # fmt: skip
    assert breaker.state is BreakerState.OPEN
