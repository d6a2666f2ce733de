"""Per-subscription-key quota, as the API gateway enforces it: a token bucket per key."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; starts full."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._tokens = burst
        self._updated = clock()

    def take(self) -> float:
        """Take one token: 0.0 if granted, else the seconds until one will be available."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate


def retry_after_header(wait_s: float) -> int:
    """Whole seconds, at least 1, never shorter than the real wait (as the gateway rounds)."""
    return max(1, math.ceil(wait_s))


class KeyQuotas:
    """One bucket per key id, with a burst of one second's worth of calls (at least one)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key_id: str) -> float:
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = TokenBucket(
                self._rate, max(1.0, self._rate), self._clock
            )
        return bucket.take()
