"""The circuit breaker's states, probes and listeners."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streams.photodna.breaker import BreakerState, CircuitBreaker
from tests.waiting import eventually

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(
    threshold: int = 3, reset_s: float = 10.0, **options: float
) -> tuple[CircuitBreaker, FakeClock, list[BreakerState]]:
    clock = FakeClock()
    cb = CircuitBreaker(threshold, reset_s, clock=clock, **options)
    changes: list[BreakerState] = []
    cb.add_listener(changes.append)
    return cb, clock, changes


def test_opens_after_threshold_consecutive_failures() -> None:
    cb, _, changes = breaker(threshold=3)

    cb.record_failure()
    cb.record_failure()
    assert cb.state is BreakerState.CLOSED
    assert cb.allow()
    cb.record_failure()

    assert cb.state is BreakerState.OPEN
    assert not cb.allow()
    assert changes == [BreakerState.OPEN]


def test_a_success_resets_the_failure_count() -> None:
    cb, _, _ = breaker(threshold=3)

    for _ in range(5):
        cb.record_failure()
        cb.record_failure()
        cb.record_success()

    assert cb.state is BreakerState.CLOSED


def test_half_opens_after_reset_and_lets_exactly_one_probe_through() -> None:
    cb, clock, changes = breaker(threshold=1, reset_s=10)
    cb.record_failure()

    clock.now += 9.9
    assert cb.state is BreakerState.OPEN
    clock.now += 0.1
    assert cb.state is BreakerState.HALF_OPEN
    assert cb.allow()  # the probe
    assert not cb.allow()
    assert not cb.allow()
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN]


def test_probe_success_closes() -> None:
    cb, clock, changes = breaker(threshold=1, reset_s=10)
    cb.record_failure()
    clock.now += 10
    assert cb.allow()

    cb.record_success()

    assert cb.state is BreakerState.CLOSED
    assert cb.allow() and cb.allow()
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_probe_failure_reopens_for_twice_as_long_up_to_the_cap() -> None:
    cb, clock, changes = breaker(threshold=1, reset_s=10, max_reset_s=30)
    cb.record_failure()
    periods = []
    for _ in range(4):
        clock.now += cb.reset_s
        assert cb.allow()
        cb.record_failure()
        periods.append(cb.reset_s)
        clock.now += cb.reset_s - 0.01
        assert cb.state is BreakerState.OPEN

    assert periods == [20, 30, 30, 30]
    assert changes[:4] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
    ]


def test_closing_resets_the_open_period() -> None:
    cb, clock, _ = breaker(threshold=1, reset_s=10)
    cb.record_failure()
    clock.now += 10
    cb.allow()
    cb.record_failure()
    assert cb.reset_s == 20
    clock.now += 20
    cb.allow()

    cb.record_success()

    assert cb.reset_s == 10


def test_stale_results_while_open_change_nothing() -> None:
    cb, _, changes = breaker(threshold=1)
    cb.record_failure()

    cb.record_success()  # a call that started before the breaker opened
    cb.record_failure()

    assert cb.state is BreakerState.OPEN
    assert changes == [BreakerState.OPEN]


def test_inconclusive_probe_frees_the_slot_without_changing_state() -> None:
    cb, clock, _ = breaker(threshold=1, reset_s=10)
    cb.record_failure()
    clock.now += 10
    assert cb.allow()

    cb.record_inconclusive()

    assert cb.state is BreakerState.HALF_OPEN
    assert cb.allow()


def test_a_failing_listener_is_logged_and_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cb = CircuitBreaker(1, 10)
    seen: list[BreakerState] = []

    def broken(_state: BreakerState) -> None:
        raise RuntimeError("listener bug")

    cb.add_listener(broken)
    cb.add_listener(seen.append)
    with caplog.at_level(logging.ERROR):
        cb.record_failure()

    assert seen == [BreakerState.OPEN]
    assert "listener" in caplog.text


@pytest.mark.parametrize(("threshold", "reset_s"), [(0, 1.0), (1, 0.0)])
def test_rejects_impossible_settings(threshold: int, reset_s: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold, reset_s)


async def test_wait_until_callable_returns_at_once_when_closed() -> None:
    cb = CircuitBreaker(3, 10)
    await asyncio.wait_for(cb.wait_until_callable(), timeout=5)


async def test_waiters_queue_behind_the_probe_and_go_when_it_succeeds() -> None:
    cb = CircuitBreaker(1, 0.05)
    cb.record_failure()

    waiters = [asyncio.create_task(cb.wait_until_callable()) for _ in range(4)]
    await eventually(lambda: any(w.done() for w in waiters), what="a probe let through")
    assert cb.state is BreakerState.HALF_OPEN
    assert sum(w.done() for w in waiters) == 1
    for _ in range(10):
        await asyncio.sleep(0)
    assert sum(w.done() for w in waiters) == 1  # the others wait for the probe's outcome

    cb.record_success()

    await asyncio.wait_for(asyncio.gather(*waiters), timeout=5)
    assert cb.state is BreakerState.CLOSED


async def test_failed_probe_makes_waiters_wait_another_period() -> None:
    cb = CircuitBreaker(1, 0.05)
    cb.record_failure()
    first = asyncio.create_task(cb.wait_until_callable())
    await asyncio.wait_for(first, timeout=5)
    second = asyncio.create_task(cb.wait_until_callable())
    await asyncio.sleep(0)

    cb.record_failure()

    assert cb.state is BreakerState.OPEN
    await asyncio.wait_for(second, timeout=5)  # after the doubled period, as the next probe
    assert cb.state is BreakerState.HALF_OPEN


async def test_half_opens_on_its_own_so_listeners_can_resume() -> None:
    cb = CircuitBreaker(1, 0.05)
    changes: list[BreakerState] = []
    cb.add_listener(changes.append)

    cb.record_failure()

    await eventually(lambda: BreakerState.HALF_OPEN in changes, what="half-open without callers")
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN]
