"""The bound the README states: however large a rescan backlog, a live call that finds no other
live call waiting gets its quota token within two token intervals, 2/R.

Live has strict priority in the shared token bucket, so such a call waits for the token being
accrued (at most 1/R) and, at most once per 1/F seconds, for one more that the rescan floor F
reserves (F < R, so never twice in a row). Behind k waiting live calls the wait is at most
(k + 2) / (R - F): the floor takes F of the R tokens a second. Measured with the real
RateLimiter in fake time; the integration test checks the bound on a real worker.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from streams.photodna.ratelimit import Lane, RateLimiter
from tests.support import FakeClock

pytestmark = pytest.mark.unit


class Lanes:
    """Keeps ``backlog`` rescan calls waiting at all times and records live waits."""

    def __init__(self, limiter: RateLimiter, time: FakeClock, backlog: int) -> None:
        self.limiter = limiter
        self.time = time
        self.live_waits: list[tuple[int, float]] = []  # (live calls ahead, wait)
        self.rescans = 0
        self.tasks = [asyncio.create_task(self._rescan_loop()) for _ in range(backlog)]

    async def _rescan_loop(self) -> None:
        while True:
            await self.limiter.acquire(Lane.RESCAN)
            self.rescans += 1

    def live(self) -> None:
        self.tasks.append(asyncio.create_task(self._live()))

    async def _live(self) -> None:
        asked, ahead = self.time.now, self.limiter.waiting(Lane.LIVE)
        granted = await self.limiter.acquire(Lane.LIVE)
        self.live_waits.append((ahead, granted - asked))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.mark.parametrize(("rate", "floor"), [(10.0, 1.0), (20.0, 4.0), (50.0, 5.0), (10.0, 9.0)])
async def test_a_rescan_backlog_delays_a_live_call_by_at_most_two_token_intervals(
    rate: float, floor: float
) -> None:
    time = FakeClock()
    limiter = RateLimiter(rate, rescan_floor_rps=floor, clock=time, sleep=time.sleep)
    lanes = Lanes(limiter, time, backlog=64)
    rng = random.Random(11)
    at = 1.0
    for _ in range(300):  # live arrivals well below what live is left (rate - floor)
        at += rng.expovariate((rate - floor) / 4)
        await time.run_until(at)
        lanes.live()
    await time.run_until(at + 5.0)

    assert len(lanes.live_waits) == 300
    alone = [wait for ahead, wait in lanes.live_waits if ahead == 0]
    assert len(alone) > 200 and max(alone) <= 2 / rate + 1e-9
    assert all(wait <= (ahead + 2) / (rate - floor) + 1e-9 for ahead, wait in lanes.live_waits)
    assert lanes.rescans >= floor * at * 0.9  # and the rescan kept at least its floor
    await lanes.stop()
