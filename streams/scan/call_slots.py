"""A lane's PhotoDNA call slots: a semaphore whose size may change while calls hold it.

The rescan lane's size follows live traffic (streams/scan/rescan_yield.py). A shrink takes
effect as calls finish: none is interrupted, new ones wait until fewer than the new size run.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType


class CallSlots:
    """``async with slots:`` runs at most ``limit`` bodies at once, FIFO among the waiting."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._used = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def limit(self) -> int:
        return self._limit

    @limit.setter
    def limit(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._hand_out()

    @property
    def used(self) -> int:
        return self._used

    async def __aenter__(self) -> None:
        if self._used < self._limit and not self._waiting:
            self._used += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn  # whoever resolves it has counted this body in
        except asyncio.CancelledError:
            if not turn.cancelled():
                self._release()  # cancelled after its turn came: give the slot on
            elif turn in self._waiting:
                self._waiting.remove(turn)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def _release(self) -> None:
        self._used -= 1
        self._hand_out()

    def _hand_out(self) -> None:
        while self._waiting and self._used < self._limit:
            turn = self._waiting.popleft()
            if not turn.done():  # a cancelled waiter leaves without a slot
                self._used += 1
                turn.set_result(None)
