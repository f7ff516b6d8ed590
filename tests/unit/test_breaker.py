"""The circuit breaker's states, on a clock the test moves."""

from __future__ import annotations

import pytest

from soko.errors import VectorStoreUnavailable
from soko.vectorstore.breaker import BreakerState, CircuitBreaker


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
