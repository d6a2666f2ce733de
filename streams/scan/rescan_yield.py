"""The rescan lane yields to live uploads: its call slots shrink while live records queue.

The rate limiter gives live calls priority when the quota is the limit. When the host is the
limit instead (the worker's CPU, its broker's, its image hosts'), a rescan backlog keeps all of
the rescan lane's call slots busy and live records wait for a core like everything else: the
bench's scenario (g) measured seconds of live lag behind a 200,000-request rescan.

The signal is each live record's delay from its producer's timestamp to the worker's agent,
less the smallest delay of the last few minutes: that base is the network's hop and any offset
between the producer's clock and the worker's, so what is left is queueing (the way LEDBAT
measures it). Every period, when the tail of the period's queueing (its 95th percentile)
exceeds the target, the rescan lane's slots are halved, never below one (a rescan always
progresses); otherwise they grow back by an eighth, at least one, up to the lane's size. A
period without live records counts as no queueing.

The tail, not the median: what a rescan does to live uploads shows first in their slowest
few percent. In (g) on a quiet machine the median live delay stayed at 6 ms, under any target,
while its 95th percentile was 173 ms and its 99th 551 ms.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from streams.scan.call_slots import CallSlots

#: How often the rescan lane's size is decided.
PERIOD_S = 0.5
#: The base delay is the smallest of this window's.
BASE_WINDOW_S = 300.0
#: The window is kept as one minimum per bucket of this length.
BUCKET_S = 30.0
#: Which of a period's live delays is held against the target (nearest rank): one slow record
#: in twenty (a GC pause) does not shrink the lane, two do.
QUANTILE = 0.95
#: Share of the current size the lane grows by in a period without queueing.
GROWTH = 1 / 8


class RescanYield:
    """Sizes the rescan lane's ``slots`` (between 1 and ``ceiling``) from live records' delays."""

    def __init__(
        self,
        slots: CallSlots,
        *,  # pragma: no mutate (callers pass these by name)
        ceiling: int,
        target_ms: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slots = slots
        self._ceiling = ceiling
        self._target_ms = target_ms
        self._clock = clock
        self._delays: list[float] = []
        self._minima: deque[list[float]] = deque()  # [bucket start, smallest delay in it]

    def live_delay(self, delay_ms: float) -> None:
        """A live record reached its agent ``delay_ms`` after its producer stamped it."""
        self._delays.append(delay_ms)
        now = self._clock()
        bucket = now - now % BUCKET_S
        if self._minima and self._minima[-1][0] == bucket:
            self._minima[-1][1] = min(self._minima[-1][1], delay_ms)
        else:
            self._minima.append([bucket, delay_ms])
        while self._minima[0][0] <= now - BASE_WINDOW_S:
            self._minima.popleft()

    def queueing_ms(self) -> float | None:
        """The period's tail (``QUANTILE``) of live delays over the base; None without records."""
        if not self._delays:
            return None
        ordered = sorted(self._delays)
        base = min(smallest for _, smallest in self._minima)
        return ordered[max(math.ceil(len(ordered) * QUANTILE) - 1, 0)] - base

    def adjust(self) -> int:
        """Once a period: size the rescan lane from the period's delays; returns the size."""
        queueing = self.queueing_ms()
        self._delays = []
        size = self.slots.limit
        if queueing is not None and queueing > self._target_ms:
            size = max(1, size // 2)
        else:
            size = min(self._ceiling, size + max(1, int(size * GROWTH)))
        self.slots.limit = size
        return size
