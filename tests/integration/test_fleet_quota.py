"""Three workers on one subscription key share its quota with no per-worker setting.

Each takes the part of the quota that its upload partitions are of all of them; the simulator
enforces the key's quota (10 calls/s, as the gateway would) and counts every call and 429.
faust's sticky assignor may leave a worker without an upload partition (2/2/0 of 4): that worker
keeps the minimum share for its rescan and retry calls, and the holders share the whole quota.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator, Callable

import pytest

from hashgate_tools.harness.images import SIMULATOR_KEY, ImageServer, start_simulator
from hashgate_tools.harness.kafka import produce
from hashgate_tools.harness.worker import (
    ScanTopics,
    WorkerProcess,
    create_scan_topics,
    records_of,
    upload,
    worker_env,
)
from hashgate_tools.simulator import RunningSimulator, SimulatorAdmin
from streams.photodna.ratelimit import MIN_RATE_SHARE

pytest_plugins = ["tests.fixtures.simulator", "tests.integration.scan_fixtures"]
pytestmark = pytest.mark.integration

QUOTA_RPS = 10.0
SESSION_TIMEOUT_S = 6.0  # worker_env's HASHGATE_KAFKA__SESSION_TIMEOUT_S
WINDOW_S = 4.0  # the window that tells when the rate is back after the kill
#: The window the rates are measured over: one call more or less is 0.1 calls/s (over 4 s it
#: was 0.25, and 38 calls in a window a hair over 4 s read as 9.49, under the 9.5 asked).
MEASURE_S = 10.0


@pytest.fixture
async def quota_simulator() -> AsyncIterator[RunningSimulator]:
    async with start_simulator(quota_rps=QUOTA_RPS) as running:
        yield running


async def _rates_settled(workers: list[WorkerProcess], within: float) -> list[float]:
    """Until the rates of the workers holding upload partitions add up to the quota, none of
    them taking all of it, and any worker without one keeps just the minimum share."""
    floor = QUOTA_RPS * MIN_RATE_SHARE

    async def rates() -> list[float]:
        return [await w.metric("hashgate_rate_limit_rps") for w in workers]

    def shared(current: list[float]) -> bool:
        holders = [rate for rate in current if rate > floor + 0.01]
        return abs(sum(holders) - QUOTA_RPS) < 0.01 and max(current) < QUOTA_RPS

    current: list[float] = []
    try:
        async with asyncio.timeout(within):
            while True:
                current = await rates()
                if shared(current):
                    return current
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(f"rates never shared the quota; last {current}") from None


class CallMeter:
    """The simulator's counts of calls and 429s, read now and again to give rates."""

    def __init__(self, admin: SimulatorAdmin) -> None:
        self._admin = admin
        self._loop = asyncio.get_running_loop()

    async def read(self) -> tuple[float, int, int]:
        stats = await self._admin.stats()
        return self._loop.time(), stats.total_requests, stats["http_429"]

    async def window(self) -> tuple[float, float]:
        """Calls per second over MEASURE_S, and the share of them answered 429."""
        start, calls, throttled = await self.read()
        await asyncio.sleep(MEASURE_S)  # the measuring window itself, not a wait for a condition
        end, calls_after, throttled_after = await self.read()
        made = calls_after - calls
        return made / (end - start), (throttled_after - throttled) / max(made, 1)

    async def until_rate(self, rate: float, deadline: float) -> float:
        """The first time a window ending before ``deadline`` reaches ``rate`` calls/s."""
        samples: list[tuple[float, int]] = []
        while True:
            now, calls, _ = await self.read()
            samples.append((now, calls))
            for then, calls_then in samples:
                if now - then >= WINDOW_S and (calls - calls_then) / (now - then) >= rate:
                    return now
            samples = [s for s in samples if now - s[0] <= WINDOW_S * 2]
            if now > deadline:
                raise AssertionError(f"calls never back at {rate}/s by the deadline")
            await asyncio.sleep(0.25)


async def test_fleet_of_three_shares_one_key_and_survivors_take_over_a_killed_share(
    kafka_bootstrap: str,
    quota_simulator: RunningSimulator,
    image_server: ImageServer,
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    topics = ScanTopics()
    await create_scan_topics(kafka_bootstrap, topics)
    unknown = image_server.images.unknown
    events = [upload(n, image_server.url(unknown[n % len(unknown)])) for n in range(1500)]
    await produce(kafka_bootstrap, topics.name("uploads"), records_of(events))
    env = worker_env(
        kafka_bootstrap,
        quota_simulator.base_url,
        SIMULATOR_KEY,
        topics,
        HASHGATE_PHOTODNA__KEY_QUOTA_RPS=str(QUOTA_RPS),
    )
    workers = [worker_factory(env) for _ in range(3)]
    await asyncio.gather(*(w.wait_ready() for w in workers))
    rates = await _rates_settled(workers, within=60)
    for worker in workers:  # the line docs/operations.md quotes, once per rebalance
        assert re.search(r"quota share [01]\.\d{3} of 10 calls/s", worker.log_path.read_text())

    async with SimulatorAdmin(quota_simulator.admin_url) as admin:
        meter = CallMeter(admin)
        together, throttled = await meter.window()
        assert together >= 0.95 * QUOTA_RPS, f"three workers made {together:.2f} calls/s"
        assert throttled < 0.005, f"{throttled:.2%} of calls got 429"

        busiest = workers[rates.index(max(rates))]  # it holds upload partitions to take over
        busiest.signal(signal.SIGKILL)
        killed_at = asyncio.get_running_loop().time()
        deadline = killed_at + SESSION_TIMEOUT_S + 10
        back_at = await meter.until_rate(0.95 * QUOTA_RPS, deadline)
        assert back_at <= deadline, f"back at 9.5 calls/s only {back_at - killed_at:.1f}s later"
        await _rates_settled([w for w in workers if w is not busiest], within=10)
        survivors, throttled = await meter.window()
    assert survivors >= 0.95 * QUOTA_RPS, f"two survivors made {survivors:.2f} calls/s"
    assert throttled < 0.005, f"{throttled:.2%} of calls got 429"
