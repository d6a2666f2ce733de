"""Failed-login limits, per account and per client address, so guessing passwords is slow.

After ``max_failures`` failures within ``window_s`` the account (or the address) is refused
without a password check until the oldest counted failure is ``window_s`` old. Kept in memory:
a restart forgets, which is acceptable for a loopback or proxied console.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(
        self, *, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_failures
        self._window = window_s
        self._now = clock
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, account: str, address: str) -> bool:
        return any(self._recent(key) >= self._max for key in _keys(account, address))

    def failed(self, account: str, address: str) -> None:
        for key in _keys(account, address):
            self._failures.setdefault(key, deque()).append(self._now())

    def succeeded(self, account: str) -> None:
        self._failures.pop(_keys(account, "")[0], None)

    def _recent(self, key: str) -> int:
        """Failures of ``key`` within the window; forgets the older ones (and empty keys)."""
        times = self._failures.get(key)
        while times and self._now() - times[0] >= self._window:
            times.popleft()
        if times is not None and not times:
            del self._failures[key]
        return len(times or ())


def _keys(account: str, address: str) -> tuple[str, str]:
    return f"account:{account.lower()}", f"address:{address}"
