"""One token bucket per subscription key, shared by every task of the process.

PhotoDNA's quota is per subscription key (5 to 10 calls a second), so the bucket is too:
``RateLimiter.for_key`` hands every caller of one key the same instance. Burst capacity is 1 by
default, which spaces calls evenly, one per 1/rate, so a server quota of the same rate has no
reason to answer 429. The pump that hands out tokens wakes a little late (the event loop's
timer resolution, other work): were that lateness lost, every call would lose it, 2-3% of the
quota at 10 calls/s on a busy worker. So up to half a token of it carries into the next
interval, which brings the next call back onto the schedule: no two calls closer than half an
interval, no one-second window with more than rate + 1, and over time exactly the rate (the
gateway's bucket holds a second's worth of calls; the simulator's models it).

Two lanes share the bucket. Live uploads have strict priority; rescans take a token only when
no live call is waiting, except for a reserved floor (``rescan_floor_rps``) that rescans get even
under full live load, so a long rescan always progresses and live keeps the rest.

A fleet of workers on one key shares its quota: each worker's limiter takes a ``share`` of the
key's rate (and of the rescan floor), which the scan service sets at every rebalance to the part
of the upload partitions the worker holds (streams/scan/quota_share.py). No per-worker setting,
and nothing to redo by hand after a scale-up or a crash.

When the service does answer 429 anyway (another process on the same key, a lower quota than
configured, a rebalance in progress), the rate adapts AIMD-style: halved at once, and raised back
additively with each call that goes through.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import ClassVar

from pydantic import SecretStr

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: The rate never drops below this share of the configured rate, so calls keep probing.
MIN_RATE_SHARE = 0.05
#: Each successful call gives back this share of the configured rate.
RECOVERY_SHARE = 0.05
#: Float sums of refills land a hair short of whole tokens; that is a whole token.
_WHOLE = 1 - 1e-9
#: Of a token, how much of the pump's own lateness (past the moment it meant to wake) may carry
#: into the next interval (see the module docstring); under a whole token, so no two calls go
#: together.
LATE_CARRY = 0.5


class Lane(StrEnum):
    """Which queue a call waits in: live uploads first, rescans with what is left."""

    LIVE = "live"
    RESCAN = "rescan"


def _key_fingerprint(key: SecretStr) -> str:
    return hashlib.sha256(key.get_secret_value().encode()).hexdigest()


class RateLimiter:
    """Token bucket with two priority lanes, FIFO within each, and an AIMD rate.

    Nothing polls: waiters park on futures, and a single pump task hands out tokens as they
    accrue, sleeping until the next one is due. ``clock`` and ``sleep`` are injectable so tests
    can drive time by hand.
    """

    _registry: ClassVar[dict[tuple[str, float, float], RateLimiter]] = {}

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        rescan_floor_rps: float = 0.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if not 0 <= rescan_floor_rps < rate:
            raise ValueError(
                f"rescan_floor_rps ({rescan_floor_rps:g}) must be at least 0 and below the "
                f"rate ({rate:g}), or live uploads would get no quota"
            )
        #: 429 answers seen, for the hashgate_photodna_throttled metric.
        self.throttled = 0
        self._key_rate = rate
        self._key_floor = rescan_floor_rps
        self._configured = rate
        self._rate = rate
        self._burst = burst
        self._floor = rescan_floor_rps
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._floor_credit = 0.0
        self._updated = clock()
        self._blocked_until = float("-inf")
        self._last_cut = float("-inf")
        self._waiting: dict[Lane, deque[asyncio.Future[float]]] = {lane: deque() for lane in Lane}
        self._pump: asyncio.Task[None] | None = None
        self._due: float | None = None  # when the pump is to wake for the next token
        self._wakeup: asyncio.Future[None] | None = None

    @classmethod
    def for_key(cls, key: SecretStr, rate: float, *, rescan_floor_rps: float = 0.0) -> RateLimiter:
        """The process-wide limiter of one subscription key (registered by hash, not by key)."""
        ident = (_key_fingerprint(key), float(rate), float(rescan_floor_rps))
        limiter = cls._registry.get(ident)
        if limiter is None:
            limiter = cls._registry[ident] = cls(rate, rescan_floor_rps=rescan_floor_rps)
        return limiter

    def __repr__(self) -> str:
        return (
            f"RateLimiter(configured_rate={self._configured:g}, "
            f"current_rate={self._rate:g}, rescan_floor_rps={self._floor:g})"
        )

    @property
    def key_rate(self) -> float:
        """The key's whole quota, as configured; ``configured_rate`` is this worker's share."""
        return self._key_rate

    @property
    def configured_rate(self) -> float:
        return self._configured

    def set_share(self, share: float) -> None:
        """Take ``share`` (0 < share <= 1) of the key's rate and rescan floor from now on.

        An AIMD cut in force stays in force: the current rate keeps its ratio to the new share.
        """
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], not {share:g}")
        self._refill(self._clock())
        ratio = self._rate / self._configured
        self._configured = self._key_rate * share
        self._floor = self._key_floor * share
        self._rate = self._configured * ratio
        self._wake()

    @property
    def current_rate(self) -> float:
        return self._rate

    @property
    def rescan_floor_rps(self) -> float:
        return self._floor

    def waiting(self, lane: Lane) -> int:
        """Acquirers queued in ``lane`` (cancelled ones may still be counted until skipped)."""
        return len(self._waiting[lane])

    async def acquire(self, lane: Lane = Lane.LIVE) -> float:
        """Wait for a token; returns the clock time it was granted (see ``on_throttled``).

        A caller cancelled after its token was granted does not give it back: the bucket errs
        on the slow side.
        """
        granted_at = self._grant_at_once() if lane is Lane.LIVE else None
        if granted_at is not None:
            return granted_at
        loop = asyncio.get_running_loop()
        grant: asyncio.Future[float] = loop.create_future()
        self._waiting[lane].append(grant)
        self._poke(loop)
        return await grant

    def on_throttled(
        self, retry_after: float | None = None, *, granted_at: float | None = None
    ) -> None:
        """A 429: halve the rate and hold every acquirer until ``retry_after`` has passed.

        Calls granted before the last cut were sent at the old rate, so their 429s are the same
        signal and do not cut again (pass ``granted_at`` from ``acquire``); ``retry_after`` is
        honoured either way. A cut empties the bucket, so a call granted at the very clock
        reading of the cut was granted before it.
        """
        self.throttled += 1
        now = self._clock()
        self._refill(now)
        if retry_after is not None and retry_after > 0:
            self._blocked_until = max(self._blocked_until, now + retry_after)
        if granted_at is None or granted_at > self._last_cut:
            self._rate = max(self._rate / 2, self._configured * MIN_RATE_SHARE)
            self._last_cut = now
        self._tokens = 0.0
        self._wake()

    def on_success(self) -> None:
        """A call went through without 429: give back a share of the configured rate."""
        if self._rate >= self._configured:
            return
        self._refill(self._clock())
        self._rate = min(self._configured, self._rate + self._configured * RECOVERY_SHARE)
        self._wake()

    # -- the pump ------------------------------------------------------------------------------

    def _poke(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._pump is None or self._pump.done() or self._pump.get_loop() is not loop:
            self._pump = loop.create_task(self._run_pump(), name="hashgate-rate-limiter")
        else:
            self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _run_pump(self) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self._dispatch()) is not None:
            self._wakeup = loop.create_future()
            timer = asyncio.ensure_future(self._sleep(delay))
            try:
                await asyncio.wait({timer, self._wakeup}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
                self._wakeup.cancel()

    def _grant_at_once(self) -> float | None:
        """Below the quota nobody queues: a live call takes a ready token without the pump.

        Only when no one waits in either lane, so FIFO order and the rescan floor stay the
        pump's business; rescans always queue, so callers arriving together go live first.
        """
        if self._has_waiter(Lane.LIVE) or self._has_waiter(Lane.RESCAN):
            return None
        now = self._clock()
        self._refill(now)
        if now < self._blocked_until or self._tokens < _WHOLE:
            return None
        self._take(Lane.LIVE)
        return now

    def _take(self, lane: Lane) -> None:
        self._tokens = max(0.0, self._tokens - 1)
        if lane is Lane.RESCAN:
            self._floor_credit = max(0.0, self._floor_credit - 1)

    def _dispatch(self) -> float | None:
        """Grant every token due now; the wait until the next one, or None if nobody waits."""
        now = self._clock()
        late = now - self._due if self._due is not None else 0.0
        self._refill(now, carry=min(LATE_CARRY, late * self._rate) if late > 0 else 0.0)
        self._due = None
        while (lane := self._next_lane()) is not None:
            if now < self._blocked_until:
                self._due = self._blocked_until
            elif self._tokens < _WHOLE:
                self._due = now + (1 - self._tokens) / self._rate
            else:
                self._take(lane)
                self._waiting[lane].popleft().set_result(now)
                continue
            return self._due - now
        return None

    def _next_lane(self) -> Lane | None:
        live = self._has_waiter(Lane.LIVE)
        rescan = self._has_waiter(Lane.RESCAN)
        if live and rescan:
            return Lane.RESCAN if self._floor_credit >= _WHOLE else Lane.LIVE
        if live:
            return Lane.LIVE
        return Lane.RESCAN if rescan else None

    def _has_waiter(self, lane: Lane) -> bool:
        queue = self._waiting[lane]
        while queue and queue[0].done():  # cancelled while waiting
            queue.popleft()
        return bool(queue)

    def _refill(self, now: float, *, carry: float = 0.0) -> None:
        """Accrue tokens, and the rescan floor's credit in proportion to the current rate;
        ``carry``: the pump's lateness, in tokens, kept beyond the burst."""
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(self._burst + carry, self._tokens + elapsed * self._rate)
        floor_rate = self._floor * self._rate / self._configured
        self._floor_credit = min(1.0, self._floor_credit + elapsed * floor_rate)
