"""hashgate's consumer hands a record to its queue in place when nothing makes it wait, and
otherwise exactly as faust does: a suspended flow still interrupts a record waiting for room,
and an error still reaches faust's delivery loop."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from faust.types import TP

from hashgate_tools.harness.waiting import eventually
from streams.kafka.direct_delivery import DirectDeliveryConsumer
from tests.unit.kafka.faust_steps import unstarted_consumer

pytestmark = pytest.mark.unit

RECORD = "uploads[0]@7"


@pytest.fixture
async def consumer(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DirectDeliveryConsumer]:
    async with unstarted_consumer(monkeypatch, {TP("uploads", 0)}) as consumer:
        assert isinstance(consumer, DirectDeliveryConsumer)
        yield consumer


async def deliver(queue: asyncio.Queue[str], record: str) -> str:
    """What faust's callback does with a record: put it on its channel's queue."""
    await queue.put(record)
    return record


@contextmanager
def tasks_started() -> Iterator[list[Coroutine[Any, Any, Any]]]:
    """The coroutines the running loop starts tasks for meanwhile."""
    loop = asyncio.get_running_loop()
    started: list[Coroutine[Any, Any, Any]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        started.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)
    try:
        yield started
    finally:
        loop.set_task_factory(None)


async def wait_until_blocked(queue: asyncio.Queue[str], task: asyncio.Task[Any]) -> None:
    """Until ``task``'s put waits for room in the full ``queue``."""
    await eventually(lambda: bool(queue._putters), what="a put waiting for room")  # type: ignore[attr-defined]
    assert not task.done(), task


async def wait_until_closed(coro: Coroutine[Any, Any, Any]) -> None:
    """Until the cancellation faust's ``wait_first`` sent ``coro`` on the way out has ended it."""
    closed = inspect.CORO_CLOSED
    await eventually(lambda: inspect.getcoroutinestate(coro) == closed, what="coroutine closed")


async def test_a_record_with_room_is_queued_in_place_without_a_task(
    consumer: DirectDeliveryConsumer,
) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=10)
    callback, suspended = deliver(queue, RECORD), consumer.suspend_flow.wait()
    with tasks_started() as started:
        results = await consumer.wait_first(callback, suspended)
    assert started == [], "faust's way starts four tasks a record"
    assert (results.done, results.results, results.stopped) == ([callback], [RECORD], False)
    assert queue.get_nowait() == RECORD and queue.empty()
    assert inspect.getcoroutinestate(suspended) == inspect.CORO_CLOSED  # never left unawaited


async def test_a_record_waiting_for_room_is_queued_once_there_is_room(
    consumer: DirectDeliveryConsumer,
) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
    queue.put_nowait("earlier")
    callback = deliver(queue, RECORD)
    waiting = asyncio.create_task(consumer.wait_first(callback, consumer.suspend_flow.wait()))
    await wait_until_blocked(queue, waiting)
    assert queue.get_nowait() == "earlier"
    results = await asyncio.wait_for(waiting, 5)
    assert (results.done, results.results, results.stopped) == ([callback], [RECORD], False)
    assert queue.get_nowait() == RECORD and queue.empty()


async def test_a_suspended_flow_interrupts_a_record_waiting_for_room(
    consumer: DirectDeliveryConsumer,
) -> None:
    """faust suspends the flow at a rebalance: a record still waiting is not delivered."""
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
    queue.put_nowait("earlier")
    callback, suspended = deliver(queue, RECORD), consumer.suspend_flow.wait()
    waiting = asyncio.create_task(consumer.wait_first(callback, suspended))
    await wait_until_blocked(queue, waiting)
    consumer.suspend_flow.set()
    results = await asyncio.wait_for(waiting, 5)
    assert results.done == [suspended] and not results.stopped
    await wait_until_closed(callback)
    assert queue.get_nowait() == "earlier" and queue.empty()


async def test_with_the_flow_suspended_faust_delivers_as_before(
    consumer: DirectDeliveryConsumer,
) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=10)
    consumer.suspend_flow.set()
    with tasks_started() as started:
        await consumer.wait_first(deliver(queue, RECORD), consumer.suspend_flow.wait())
    assert len(started) == 4, "faust's own wait_first: a task for each awaitable"


async def test_an_error_in_the_first_step_reaches_fausts_loop(
    consumer: DirectDeliveryConsumer,
) -> None:
    """faust's delivery loop ends on an error from its callback: it is not swallowed."""

    async def fails(queue: asyncio.Queue[str]) -> None:
        raise ValueError("the callback failed")

    suspended = consumer.suspend_flow.wait()
    with pytest.raises(ValueError, match="the callback failed"):
        await consumer.wait_first(fails(asyncio.Queue()), suspended)
    assert inspect.getcoroutinestate(suspended) == inspect.CORO_CLOSED


async def test_an_error_after_waiting_for_room_reaches_fausts_loop(
    consumer: DirectDeliveryConsumer,
) -> None:
    async def fails_after_room(queue: asyncio.Queue[str]) -> None:
        await queue.put(RECORD)
        raise ValueError("the callback failed")

    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
    queue.put_nowait("earlier")
    suspended = consumer.suspend_flow.wait()
    waiting = asyncio.create_task(consumer.wait_first(fails_after_room(queue), suspended))
    await wait_until_blocked(queue, waiting)
    queue.get_nowait()
    with pytest.raises(ValueError, match="the callback failed"):
        await asyncio.wait_for(waiting, 5)
    await wait_until_closed(suspended)
