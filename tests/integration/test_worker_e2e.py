"""Promises 1 and 2 end to end: the right verdict for every upload, nothing lost."""

from __future__ import annotations

import random

from hashgate_tools.harness.kafka import produce
from hashgate_tools.harness.worker import ScanSetup, read_outcomes, records_of, upload

pytest_plugins = ["tests.fixtures.simulator", "tests.integration.scan_fixtures"]


async def test_thousand_uploads_get_exactly_the_right_verdicts(scan: ScanSetup) -> None:
    rng = random.Random(42)
    images = scan.images.images
    known = set(rng.sample(range(1000), 50))  # 5% are known images
    events = []
    for n in range(1000):
        pool = images.known + images.degraded if n in known else images.unknown
        events.append(upload(n, scan.images.url(rng.choice(pool)), tenant=f"t{n % 3}"))
    worker = scan.start_worker()
    await worker.wait_ready()
    await produce(scan.bootstrap, scan.topics.name("uploads"), records_of(events))

    out = await read_outcomes(
        scan.bootstrap, scan.topics, until_events={e.event_id for e in events}, within=180
    )

    expected_matches = {events[n].event_id for n in known}
    assert {v.event_id for v in out.matches} == expected_matches
    assert {v.event_id for v in out.clears} == {e.event_id for e in events} - expected_matches
    assert out.errors == []
    assert all(v.tracking_id and v.matches[0].source == "Test" for v in out.matches)
    assert all(v.tenant == f"t{int(v.event_id[4:]) % 3}" for v in out.verdicts)
    stats = await scan.admin.stats()
    assert stats["ok_match"] == 50 and stats["ok_clear"] == 950
    assert await worker.metric('hashgate_verdicts_total{lane="live",verdict="match"}') == 50
