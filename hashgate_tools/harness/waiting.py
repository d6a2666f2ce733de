"""Waiting for conditions with a deadline: the tests' only way to wait (never a bare sleep)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


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
