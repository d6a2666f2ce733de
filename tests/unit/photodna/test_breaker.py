"""The circuit breaker: only its own health probe decides PhotoDNA's health, never an event."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from hashgate_tools.harness.waiting import eventually
from streams.photodna.breaker import BreakerState, CircuitBreaker
from tests import support

pytestmark = pytest.mark.unit


class ScriptedProbe:
    """Answers from ``healthy`` (the last one repeats); ``gate`` holds answers back if set."""

    def __init__(self, *healthy: bool) -> None:
        self.healthy = list(healthy) or [True]
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> bool:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return self.healthy.pop(0) if len(self.healthy) > 1 else self.healthy[0]


class Probed:
    def __init__(self, cb: CircuitBreaker, probe: ScriptedProbe) -> None:
        self.cb = cb
        self.probe = probe
        self.changes: list[BreakerState] = []
        cb.add_listener(self.changes.append)


@pytest.fixture
async def make() -> AsyncIterator[type[Probed]]:
    made: list[CircuitBreaker] = []

    class Made(Probed):
        def __init__(
            self, *healthy: bool, threshold: int = 3, reset_s: float = 0.05, **options: float
        ) -> None:
            probe = ScriptedProbe(*healthy)
            cb = CircuitBreaker(threshold, reset_s, probe=probe, **options)
            made.append(cb)
            super().__init__(cb, probe)

    yield Made
    for cb in made:
        cb.close()


async def settle(probed: Probed, calls: int) -> None:
    await eventually(lambda: probed.probe.calls >= calls, within=5, what=f"{calls} probes")
    await asyncio.sleep(0)  # let the probe's answer land


async def test_failures_in_a_row_ask_the_probe_and_a_good_answer_keeps_it_closed(
    make: type[Probed],
) -> None:
    p = make(True, threshold=3)
    assert p.cb.failure_threshold == 3
    p.cb.record_failure()
    p.cb.record_failure()
    assert p.probe.calls == 0
    p.cb.record_failure()
    await settle(p, 1)
    assert p.cb.state is BreakerState.CLOSED and p.cb.allow()
    assert p.changes == []


async def test_a_success_resets_the_failure_count(make: type[Probed]) -> None:
    p = make(threshold=3)
    for _ in range(5):
        p.cb.record_failure()
        p.cb.record_failure()
        p.cb.record_success()
    await support.settle()
    assert p.probe.calls == 0
    for _ in range(3):  # counted again from zero: three in a row do ask
        p.cb.record_failure()
    await settle(p, 1)


async def test_a_good_probe_counts_failures_again_from_zero(make: type[Probed]) -> None:
    p = make(True, threshold=3, reset_s=0.01)
    for _ in range(3):
        p.cb.record_failure()
    await settle(p, 1)
    asked = time.monotonic()
    await eventually(lambda: time.monotonic() > asked + 0.02, what="the probe period over")
    p.cb.record_failure()
    p.cb.record_failure()
    await support.settle()
    assert p.probe.calls == 1
    p.cb.record_failure()  # the third in a row since the good answer
    await settle(p, 2)


async def test_a_threshold_beyond_small_ints_is_reached(make: type[Probed]) -> None:
    p = make(True, threshold=300)
    for _ in range(299):
        p.cb.record_failure()
    await support.settle()
    assert p.probe.calls == 0
    p.cb.record_failure()
    await settle(p, 1)


async def test_only_a_failed_probe_opens_and_calls_go_on_while_it_runs(
    make: type[Probed], caplog: pytest.LogCaptureFixture
) -> None:
    p = make(False, threshold=1, reset_s=10)
    p.probe.gate = asyncio.Event()
    p.cb.record_failure()
    await settle(p, 1)
    assert p.cb.allow(), "calls are not held while a suspected outage is checked"
    p.probe.gate.set()
    await eventually(lambda: p.cb.state is BreakerState.OPEN, within=5, what="open")
    assert not p.cb.allow()
    assert p.changes == [BreakerState.OPEN]
    # docs/operations.md names this line
    assert "PhotoDNA circuit breaker open for 10.0s: the health probe failed" in caplog.messages


async def test_after_the_open_period_the_probe_not_an_event_decides(make: type[Probed]) -> None:
    p = make(False, True, threshold=1, reset_s=0.05)
    p.cb.record_failure()
    await eventually(lambda: p.cb.state is BreakerState.OPEN, within=5, what="open")
    for _ in range(20):  # events failing on their own while open change nothing
        p.cb.record_failure()
    waiter = asyncio.create_task(p.cb.wait_until_callable())
    async with asyncio.timeout(5):
        await waiter
    assert p.cb.state is BreakerState.CLOSED
    assert p.changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]
    assert p.probe.calls == 2


def open_periods(p: Probed) -> list[float]:
    """The open period each time the breaker opens (read as it opens: no poll can miss one)."""
    periods: list[float] = []
    p.cb.add_listener(lambda state: periods.append(p.cb.reset_s) if state == "open" else None)
    return periods


async def test_failed_probes_while_open_double_the_period_up_to_the_cap(
    make: type[Probed],
) -> None:
    p = make(False, False, False, False, True, threshold=1, reset_s=0.02, max_reset_s=0.05)
    periods = open_periods(p)
    p.cb.record_failure()
    await eventually(
        lambda: p.probe.calls == 5 and p.cb.state is BreakerState.CLOSED, within=5, what="closed"
    )
    assert periods == [0.02, 0.04, 0.05, 0.05]
    assert p.cb.reset_s == 0.02, "closing resets the open period"


async def test_without_a_cap_the_open_period_doubles_up_to_8_times_the_first(
    make: type[Probed],
) -> None:
    p = make(False, False, False, False, False, True, threshold=1, reset_s=0.01)
    periods = open_periods(p)
    p.cb.record_failure()
    await eventually(
        lambda: p.probe.calls == 6 and p.cb.state is BreakerState.CLOSED, within=5, what="closed"
    )
    assert periods == [0.01, 0.02, 0.04, 0.08, 0.08]


async def test_answering_now_shares_one_probe_sent_after_the_question(make: type[Probed]) -> None:
    p = make(True, threshold=100, reset_s=0.05)
    answers = await asyncio.gather(*(p.cb.answering_now() for _ in range(10)))
    assert answers == [True] * 10
    assert p.probe.calls == 1


async def test_answering_now_probes_at_most_once_per_period_while_closed(
    make: type[Probed],
) -> None:
    p = make(True, threshold=100, reset_s=0.3)
    assert await p.cb.answering_now()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await p.cb.answering_now(), "the earlier answer predates the question: ask again"
    assert p.probe.calls == 2
    assert loop.time() - started >= 0.25


async def test_failures_during_a_probe_in_flight_ask_for_no_second_probe(
    make: type[Probed],
) -> None:
    p = make(True, threshold=1, reset_s=0.05)
    p.probe.gate = asyncio.Event()
    p.cb.record_failure()
    await settle(p, 1)
    p.cb.record_failure()  # more failures while the probe waits for its answer
    p.cb.record_failure()
    await asyncio.sleep(0.2)  # four reset periods: a timer asked for now would have fired
    assert p.probe.calls == 1
    p.probe.gate.set()


async def test_answering_now_is_false_in_an_outage(make: type[Probed]) -> None:
    p = make(False, threshold=100, reset_s=10)
    assert not await p.cb.answering_now()
    assert p.cb.state is BreakerState.OPEN
    assert not await p.cb.answering_now(), "while open, no probe is needed to know"
    assert p.probe.calls == 1


async def test_a_probe_that_raises_counts_as_down_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> bool:
        raise RuntimeError("bug")

    cb = CircuitBreaker(1, 10, probe=broken)
    try:
        with caplog.at_level(logging.ERROR):
            assert not await cb.answering_now()
        assert cb.state is BreakerState.OPEN
        assert "probe failed unexpectedly" in caplog.text
    finally:
        cb.close()


async def test_a_failing_listener_is_logged_and_does_not_stop_the_others(
    make: type[Probed], caplog: pytest.LogCaptureFixture
) -> None:
    p = make(False, threshold=1, reset_s=10)

    def broken(_: BreakerState) -> None:
        raise RuntimeError("listener bug")

    later: list[BreakerState] = []
    p.cb.add_listener(broken)
    p.cb.add_listener(later.append)
    with caplog.at_level(logging.ERROR):
        assert not await p.cb.answering_now()
    assert later == [BreakerState.OPEN]
    assert "listener" in caplog.text


@pytest.mark.parametrize(("threshold", "reset_s"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_rejects_impossible_settings(threshold: int, reset_s: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=threshold, reset_s=reset_s, probe=ScriptedProbe())


async def test_wait_until_callable_returns_at_once_when_closed(make: type[Probed]) -> None:
    p = make()
    async with asyncio.timeout(1):
        await p.cb.wait_until_callable()
