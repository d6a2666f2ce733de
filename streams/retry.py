"""When to try a transient failure again: capped exponential backoff with full jitter.

Full jitter (a uniform wait between zero and the capped exponential) spreads the retries of
many tasks that failed together, so a recovering service is not hit by them in lockstep. A
``Retry-After`` from the gateway is a floor: the wait is never shorter than what it asked for.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

#: Beyond this exponent the cap has long been reached; keeps 2**n from overflowing a float.
_MAX_EXPONENT = 62


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts HTTP calls, the first included; sleep and random are injectable."""

    max_attempts: int = 6
    base_s: float = 0.2
    cap_s: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = field(
        default=asyncio.sleep, repr=False, compare=False
    )
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_s <= 0 or self.cap_s < self.base_s:
            raise ValueError("need 0 < base_s <= cap_s")

    def backoff(self, retry_number: int, retry_after: float | None = None) -> float:
        """The wait before retry ``retry_number`` (0 for the first retry)."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(retry_number, _MAX_EXPONENT))
        delay = self.random() * ceiling
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    async def wait(self, retry_number: int, retry_after: float | None = None) -> float:
        """Sleep for ``backoff(...)`` and return how long that was."""
        delay = self.backoff(retry_number, retry_after)
        await self.sleep(delay)
        return delay
