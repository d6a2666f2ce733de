"""The circuit breaker: during an outage, stop calling and let the worker pause, not drain.

Retries alone would keep every in-flight event hammering a dead service and, once they run out,
push the backlog into the DLQ. The breaker turns a run of transient failures into one state the
scan agent can see (``add_listener``): it pauses its Kafka partitions while the breaker is open
and resumes when it closes. While open, callers wait; after ``reset_s`` a single half-open probe
goes through, and its outcome closes the breaker or opens it again for twice as long (up to
``max_reset_s``; a close resets the period).

Only transient failures count (5xx, Status 3004, timeouts, connection errors, unreadable
answers). A 429 is the rate limiter's business and tells nothing about health; permanent
errors and bad credentials prove the service is up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from enum import StrEnum

from streams.photodna.ratelimit import Clock

logger = logging.getLogger(__name__)

Listener = Callable[["BreakerState"], None]

#: Without ``max_reset_s``, the open period doubles up to this multiple of ``reset_s``.
DEFAULT_MAX_RESET_FACTOR = 8


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive transient failures of one service; see the module docstring.

    A caller let through by ``allow()`` or ``wait_until_callable()`` must report how its call
    went with ``record_success``, ``record_failure`` or ``record_inconclusive``: in the half-open
    state it is the probe everyone else waits on.
    """

    def __init__(
        self,
        failure_threshold: int,
        reset_s: float,
        *,
        max_reset_s: float | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_s <= 0:
            raise ValueError("reset_s must be positive")
        self._threshold = failure_threshold
        self._base_reset = reset_s
        self._max_reset = max(reset_s, max_reset_s or reset_s * DEFAULT_MAX_RESET_FACTOR)
        self._reset = reset_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._listeners: list[Listener] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self._state.value}, failures={self._failures})"

    @property
    def state(self) -> BreakerState:
        self._refresh()
        return self._state

    @property
    def reset_s(self) -> float:
        """The current open period (doubles after each failed probe)."""
        return self._reset

    def add_listener(self, callback: Listener) -> None:
        """``callback(new_state)`` runs on every change, synchronously; it must not block."""
        self._listeners.append(callback)

    def allow(self) -> bool:
        """Whether a call may go now; in half-open, a True makes the caller the probe."""
        self._refresh()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    async def wait_until_callable(self) -> None:
        """Return once a call may go: at once when closed, else when the probe slot is ours."""
        while not self.allow():
            await self._next_change(self._open_remaining())

    def record_success(self) -> None:
        self._failures = 0
        self._refresh()
        if self._state is BreakerState.HALF_OPEN:
            self._reset = self._base_reset
            self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._refresh()
        if self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self._threshold:
                self._open()
        elif self._state is BreakerState.HALF_OPEN:
            self._reset = min(self._reset * 2, self._max_reset)
            self._open()

    def record_inconclusive(self) -> None:
        """The call told nothing about health (429, or it was cancelled): free the probe slot."""
        if self._state is BreakerState.HALF_OPEN and self._probe_in_flight:
            self._probe_in_flight = False
            self._wake_waiters()

    # -- internals -----------------------------------------------------------------------------

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._set(BreakerState.OPEN)
        self._arm_timer()

    def _open_remaining(self) -> float | None:
        if self._state is not BreakerState.OPEN:
            return None
        return max(0.0, self._opened_at + self._reset - self._clock())

    def _refresh(self) -> None:
        remaining = self._open_remaining()
        if remaining is not None and remaining <= 0:
            self._set(BreakerState.HALF_OPEN)

    def _set(self, state: BreakerState) -> None:
        if state is self._state:
            return
        self._state = state
        self._probe_in_flight = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if state is BreakerState.OPEN:
            logger.warning("PhotoDNA circuit breaker open for %.1fs", self._reset)
        else:
            logger.info("PhotoDNA circuit breaker %s", state.value)
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                logger.exception("circuit breaker listener %r failed", listener)
        self._wake_waiters()

    def _arm_timer(self) -> None:
        """Turn half-open on time even if nobody calls, so listeners can resume consumption."""
        remaining = self._open_remaining()
        if remaining is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(remaining, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._refresh()
        if self._state is BreakerState.OPEN:
            self._arm_timer()

    async def _next_change(self, limit_s: float | None) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(limit_s):
                await waiter
        except TimeoutError:
            return
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
