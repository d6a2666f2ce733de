"""The circuit breaker: during an outage, stop calling and let the worker pause, not drain.

Retries alone would keep every in-flight event hammering a dead service and, once they run out,
push the backlog into the DLQ. The breaker turns an outage into one state the scan agent can see
(``add_listener``): it takes no new records while the breaker is open and resumes when it
closes.

Only a probe decides PhotoDNA's health, never an event's own call: a handful of images that
always fail (Status 3004 for one image, a hang on one URL) would otherwise hold the breaker open
and stop all scanning. The probe (``Canary``: a benign image shipped with hashgate) runs

- when ``failure_threshold`` event calls failed in a row (a suspected outage; calls go on),
- when the open period is over (half-open: calls wait for its answer),
- when an event whose calls all failed asks ``answering_now()``: a probe sent once its calls
  failed tells whether it failed on its own (per-event path) or in an outage (wait, retry).

A failed probe opens the breaker; while open, each failed probe doubles the open period (up to
``max_reset_s``), a good one closes it. While closed, probes start at most once per
``reset_s``, and events asking meanwhile share the next answer, so the probe's quota use stays
bounded however many events fail.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

logger = logging.getLogger(__name__)

Listener = Callable[["BreakerState"], None]
#: The health probe: True when PhotoDNA answered it as expected.
Probe = Callable[[], Awaitable[bool]]

#: Without ``max_reset_s``, the open period doubles up to this multiple of ``reset_s``.
DEFAULT_MAX_RESET_FACTOR = 8


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """PhotoDNA's health as the probe sees it; see the module docstring.

    A caller let through by ``allow()`` or ``wait_until_callable()`` reports how its call went
    with ``record_success`` or ``record_failure``; those reports only decide when to probe.
    """

    def __init__(
        self,
        failure_threshold: int,
        reset_s: float,
        *,
        probe: Probe,
        max_reset_s: float | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_s <= 0:
            raise ValueError("reset_s must be positive")
        self._threshold = failure_threshold
        self._base_reset = reset_s
        self._max_reset = max(reset_s, max_reset_s or reset_s * DEFAULT_MAX_RESET_FACTOR)
        self._reset = reset_s
        self._probe = probe
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe_task: asyncio.Task[None] | None = None
        self._probe_started = -math.inf  # when the latest probe was sent
        self._verdict_sent = -math.inf  # when the latest probe with an answer was sent
        self._listeners: list[Listener] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._timer: asyncio.TimerHandle | None = None  # end of the open period, or a due probe

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self._state.value}, failures={self._failures})"

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def failure_threshold(self) -> int:
        """Event calls failing in a row that make the breaker ask its probe."""
        return self._threshold

    @property
    def reset_s(self) -> float:
        """The current open period (doubles after each failed probe while open)."""
        return self._reset

    def add_listener(self, callback: Listener) -> None:
        """``callback(new_state)`` runs on every change, synchronously; it must not block."""
        self._listeners.append(callback)

    def allow(self) -> bool:
        """Whether an event's call may go now."""
        return self._state is BreakerState.CLOSED

    async def wait_until_callable(self) -> None:
        """Return once an event's call may go: at once when closed, else when a probe closed it."""
        while not self.allow():
            await self._next_change()

    def record_success(self) -> None:
        self._failures = 0

    def record_failure(self) -> None:
        """An event's call failed transiently; enough of them in a row ask for a probe."""
        if self._state is not BreakerState.CLOSED:
            return
        self._failures += 1
        if self._failures >= self._threshold:
            self._request_probe()

    async def answering_now(self) -> bool:
        """Whether PhotoDNA answers a probe sent from now on: True means a call that just failed
        failed on its own; False means an outage (the breaker is open or probing after one).

        A probe already in flight counts as sent now: events that fail together share it."""
        since = self._probe_started if self._probe_task is not None else time.monotonic()
        while True:
            if self._state is not BreakerState.CLOSED:
                return False
            if self._verdict_sent >= since:
                return True
            self._request_probe()
            await self._next_change()

    def close(self) -> None:
        """Stop the timer and any probe in flight (at shutdown)."""
        self._cancel_timer()
        if self._probe_task is not None:
            self._probe_task.cancel()

    # -- internals -----------------------------------------------------------------------------

    def _request_probe(self) -> None:
        """Probe now, or once ``reset_s`` has passed since the last probe; one at a time."""
        if self._probe_task is not None or self._timer is not None:
            return
        delay = self._probe_started + self._base_reset - time.monotonic()
        loop = asyncio.get_running_loop()
        if delay > 0:
            self._timer = loop.call_later(delay, self._on_timer)
        else:
            self._start_probe()

    def _start_probe(self) -> None:
        self._probe_started = time.monotonic()
        self._probe_task = asyncio.get_running_loop().create_task(
            self._run_probe(self._probe_started)
        )

    async def _run_probe(self, sent: float) -> None:
        try:
            healthy = await self._probe()
        except Exception:  # a bug in the probe must not leave the breaker waiting forever
            logger.exception("PhotoDNA health probe failed unexpectedly; counting it as down")
            healthy = False
        finally:
            self._probe_task = None
        self._verdict_sent = sent
        if healthy:
            self._failures = 0
            self._reset = self._base_reset
            self._set(BreakerState.CLOSED)
        else:
            if self._state is BreakerState.HALF_OPEN:
                self._reset = min(self._reset * 2, self._max_reset)
            self._open()
        self._wake_waiters()

    def _open(self) -> None:
        self._set(BreakerState.OPEN)
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(self._reset, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._state is BreakerState.OPEN:
            self._set(BreakerState.HALF_OPEN)
        self._start_probe()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _set(self, state: BreakerState) -> None:
        if state is self._state:
            return
        self._state = state
        if state is BreakerState.OPEN:
            logger.warning(
                "PhotoDNA circuit breaker open for %.1fs: the health probe failed", self._reset
            )
        else:
            logger.info("PhotoDNA circuit breaker %s", state.value)
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                logger.exception("circuit breaker listener %r failed", listener)
        self._wake_waiters()

    async def _next_change(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
