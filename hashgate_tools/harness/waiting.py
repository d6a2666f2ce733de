"""Waiting for conditions with a deadline: the tests' only way to wait (never a bare sleep)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(
    condition: Callable[[], bool],
    *,
    within: float = 5.0,
    poll: float = 0.005,
    what: str = "condition",
) -> None:
    """Return as soon as ``condition()`` holds; fail the test if it doesn't within the limit."""
    try:
        async with asyncio.timeout(within):
            while not condition():  # noqa: ASYNC110 - polling state owned by other tasks
                await asyncio.sleep(poll)
    except TimeoutError:
        raise AssertionError(f"{what} not met within {within}s") from None


async def throughout(check: Callable[[], Awaitable[None]], *, seconds: float, poll: float) -> None:
    """Run ``check`` (it asserts) every ``poll`` seconds for ``seconds``: a condition that must
    hold all along, such as a process staying up through a fault."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while (left := until - loop.time()) > 0:
        await check()
        await asyncio.sleep(min(left, poll))
