"""The call slots: never more bodies than the limit, a shrink waits for running calls to end
(none is interrupted), a growth lets waiting calls in at once, and a cancelled waiter never
holds a slot."""

from __future__ import annotations

import asyncio

import pytest

from hashgate_tools.harness.waiting import eventually
from streams.scan.call_slots import CallSlots

pytestmark = pytest.mark.unit


class Calls:
    """Bodies that run until released, counting how many run at once."""

    def __init__(self, slots: CallSlots) -> None:
        self.slots = slots
        self.running = 0
        self.most = 0
        self.release = asyncio.Event()

    async def call(self) -> None:
        async with self.slots:
            self.running += 1
            self.most = max(self.most, self.running)
            await self.release.wait()
            self.running -= 1


async def test_no_more_calls_run_than_the_limit_and_all_finish() -> None:
    calls = Calls(CallSlots(3))
    tasks = [asyncio.create_task(calls.call()) for _ in range(10)]
    await eventually(lambda: calls.running == 3, within=2, what="three running")
    calls.release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 2)
    assert calls.most == 3 and calls.slots.used == 0


async def test_a_shrink_lets_running_calls_finish_and_holds_new_ones_back() -> None:
    calls = Calls(CallSlots(4))
    running = [asyncio.create_task(calls.call()) for _ in range(4)]
    await eventually(lambda: calls.running == 4, within=2, what="four running")
    calls.slots.limit = 1
    waiting = asyncio.create_task(calls.call())
    await asyncio.sleep(0)
    assert calls.running == 4 and not any(t.done() for t in running)  # none interrupted
    calls.release.set()
    await asyncio.wait_for(asyncio.gather(*running, waiting), 2)
    assert calls.slots.used == 0


async def test_a_growth_lets_waiting_calls_in_at_once() -> None:
    calls = Calls(CallSlots(1))
    tasks = [asyncio.create_task(calls.call()) for _ in range(5)]
    await eventually(lambda: calls.running == 1, within=2, what="one running")
    calls.slots.limit = 5
    await eventually(lambda: calls.running == 5, within=2, what="five running")
    calls.release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 2)


async def test_a_cancelled_waiter_holds_no_slot() -> None:
    calls = Calls(CallSlots(1))
    first = asyncio.create_task(calls.call())
    await eventually(lambda: calls.running == 1, within=2, what="one running")
    cancelled = asyncio.create_task(calls.call())
    behind = asyncio.create_task(calls.call())
    await asyncio.sleep(0)
    cancelled.cancel()
    calls.release.set()
    await asyncio.wait_for(asyncio.gather(first, behind), 2)
    assert cancelled.cancelled() and calls.slots.used == 0


async def test_a_waiter_cancelled_after_its_turn_came_gives_the_slot_on() -> None:
    slots = CallSlots(1)
    await slots.__aenter__()
    unlucky = asyncio.create_task(slots.__aenter__())
    behind = asyncio.create_task(slots.__aenter__())
    await asyncio.sleep(0)
    await slots.__aexit__(None, None, None)  # hands the slot to `unlucky`, not yet resumed
    unlucky.cancel()
    await asyncio.wait_for(behind, 2)  # so the slot reached the next in line
    assert unlucky.cancelled() and slots.used == 1


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CallSlots(0)
    with pytest.raises(ValueError, match="at least 1"):
        CallSlots(2).limit = 0
