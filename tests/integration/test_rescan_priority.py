"""A 10,000-upload rescan on a small quota does not hold live uploads back beyond the bound.

The README's bound: a live call that finds no other live call waiting gets its quota token
within two token intervals, 2/R (tests/unit/test_rescan_priority.py measures it in fake time).
Here a real worker runs with R = 10 calls/s and a rescan floor of 2, against a simulator that
enforces the same quota, while a 10,000-request rescan keeps the rescan lane saturated. The
wait measured is a live verdict's time waiting for quota tokens (``timings.quota_ms``): what
the lane priority bounds, and unlike wall-clock latency not inflated by a busy CPU.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator

import pytest

from streams.events import ScanKind
from streams.rescan.selection import Selection
from streams.rescan.start import RescanPlan, start_rescan
from streams.simulator import RunningSimulator
from tests.fixtures.simulator_support import start_simulator
from tests.integration.kafkautil import Record, create_topics, produce
from tests.integration.rescan_support import settings_for, wait_status
from tests.integration.worker_harness import (
    ScanSetup,
    WorkerProcess,
    read_outcomes,
    records_of,
    upload,
)

pytest_plugins = ["tests.fixtures.simulator", "tests.integration.scan_fixtures"]
pytestmark = pytest.mark.integration

RATE = 10.0  # calls per second, for the worker and the simulator's quota alike
FLOOR = 2.0  # the rescan lane's reserved share
RESCAN_SIZE = 10_000
LIVE_UPLOADS = 40
LIVE_EVERY_S = 0.3  # live uploads well below what live is left (RATE - FLOOR)
BOUND_MS = 2 * 1000 / RATE  # two token intervals


@pytest.fixture
async def fast_simulator() -> AsyncIterator[RunningSimulator]:
    """Overrides the plugin's: the simulator enforces the worker's quota, so a burst would 429."""
    async with start_simulator(quota_rps=RATE) as running:
        yield running


async def test_live_verdicts_stay_within_the_bound_while_a_large_rescan_runs(
    scan: ScanSetup,
) -> None:
    images = scan.images.images
    archive = scan.topics.name("archive")
    await create_topics(scan.bootstrap, [archive])
    history = [
        upload(n, scan.images.url(images.unknown[n % 3]), content_id=f"old-{n}")
        for n in range(RESCAN_SIZE)
    ]
    await produce(scan.bootstrap, archive, records_of(history))
    worker = scan.start_worker(
        HASHGATE_PHOTODNA__KEY_QUOTA_RPS=str(RATE), HASHGATE_SCAN__RESCAN_FLOOR_RPS=str(FLOOR)
    )
    await worker.wait_ready()
    settings = settings_for(scan.bootstrap, scan.topics)
    plan = RescanPlan("rs-big", Selection(), source_topic=archive)
    published = await start_rescan(settings, plan)
    assert published.counts.selected == RESCAN_SIZE
    started = await wait_status(settings, "rs-big", lambda s: s.done >= 2 * RATE)

    live = [
        upload(100_000 + n, scan.images.url(images.unknown[n % 3])) for n in range(LIVE_UPLOADS)
    ]
    for event in live:  # a steady trickle of live uploads while the rescan saturates its lane
        await produce(
            scan.bootstrap, scan.topics.name("uploads"), [Record(event.key, event.encode())]
        )
        await asyncio.sleep(LIVE_EVERY_S)
    try:
        out = await read_outcomes(
            scan.bootstrap, scan.topics, until_events={e.event_id for e in live}
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await _quota_state(scan, worker)}") from None
    during = await wait_status(settings, "rs-big", lambda s: s.done > started.done)

    waits = sorted(v.timings.quota_ms for v in out.verdicts if v.scan.kind is ScanKind.LIVE)
    assert len(waits) == LIVE_UPLOADS and out.errors == []
    p99 = waits[int(0.99 * (len(waits) - 1))]
    measured = f"median {statistics.median(waits):.1f} ms, p99 {p99:.1f} ms"
    assert p99 <= BOUND_MS, (
        f"live quota wait {measured}, bound {BOUND_MS} ms; {await _quota_state(scan, worker)}"
    )
    assert not during.complete  # 10,000 at 20/s: far from done, yet
    assert during.done - started.done >= FLOOR * LIVE_UPLOADS * LIVE_EVERY_S  # it kept its floor
    assert (await scan.admin.stats())["http_429"] == 0


async def _quota_state(scan: ScanSetup, worker: WorkerProcess) -> str:
    """What a failed run needs to tell a slow quota from a starved lane."""
    stats = await scan.admin.stats()
    rate = await worker.metric("hashgate_rate_limit_rps")
    throttled = await worker.metric("hashgate_photodna_throttled_total")
    lanes = [
        line
        for line in (await worker.get("/metrics")).text.splitlines()
        if line.startswith(("hashgate_events_in_total", "hashgate_in_flight", "hashgate_unacked"))
    ]
    return (
        f"simulator answers {stats}; worker rate {rate:g}/s after {throttled:g} 429s; "
        + "; ".join(lanes)
    )
