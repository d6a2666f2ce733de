"""A fetched record reaches its agent's queue without four new tasks when nothing makes it wait.

faust's consumer hands every record on with ``wait_first(callback(message),
suspend_flow.wait())``. mode's ``Service.wait_first`` starts a task for each awaitable and for
the consumer's stopped and crashed events, waits for the first to finish and cancels the
others: four tasks and three cancellations a record, and event-loop turns between one record and
the next that every other task's callbacks queue into. The callback takes a lock and puts the
record on its channel's queue; unless the lock is held, the queue is full or the flow paused, it
finishes without waiting for anything.

So this consumer runs the callback's first step itself. A callback that finishes in that step
won the race it would have won among the tasks (nothing else ran in between). One that has to
wait races on as before: its remaining steps run as a task against the other awaitables, so a
suspended flow or a stopping consumer interrupts it exactly as it interrupted faust's task.
When the flow is already suspended or the consumer stopping, faust's own path runs from the
start. A record never skips a step or runs one twice either way; the consumer's tests drive
both paths.
"""

from __future__ import annotations

import inspect
from collections.abc import Coroutine, Generator
from functools import partial
from typing import Any

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaFaustConsumer
from mode.services import WaitArgT, WaitResults
from mode.utils.times import Seconds


class DirectDeliveryConsumer(AIOKafkaFaustConsumer):
    """faust's consumer whose hand-over of a record runs the callback's first step in place."""

    async def wait_first(
        self,
        *coros: WaitArgT,
        timeout: Seconds | None = None,  # noqa: ASYNC109 - mode's signature
    ) -> WaitResults:
        if timeout is not None:
            return await super().wait_first(*coros, timeout=timeout)
        first = coros[0] if coros else None
        if (
            not inspect.iscoroutine(first)
            or self._stopped.is_set()
            or self._crashed.is_set()
            or self.suspend_flow.is_set()
        ):
            return await super().wait_first(*coros)
        others = coros[1:]
        try:
            waiting_on = first.send(None)
        except StopIteration as finished:
            _close_unstarted(others)
            return WaitResults([first], [finished.value], False)
        except BaseException:
            _close_unstarted(others)
            raise
        resumed = Resumed(first, waiting_on)
        results = await super().wait_first(resumed, *others)
        winners = [first if winner is resumed else winner for winner in results.done]
        return WaitResults(winners, results.results, results.stopped)


class Resumed:
    """The rest of a coroutine whose first step already ran and left it ``waiting_on`` a
    future: awaiting this continues the coroutine where it stopped, as its task would have."""

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self._coro = coro
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, waiting_on = self._coro, self._waiting_on
        while True:
            try:
                sent = yield waiting_on
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 -- thrown in by the task: pass it on
                resume = partial(coro.throw, exc)
            else:
                resume = partial(coro.send, sent)
            try:
                waiting_on = resume()
            except StopIteration as finished:
                return finished.value


def _close_unstarted(awaitables: tuple[WaitArgT, ...]) -> None:
    """Close coroutines that will never run (Python warns of a coroutine never awaited)."""
    for awaitable in awaitables:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
