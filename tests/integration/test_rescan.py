"""Rescans end to end: selection, idempotent re-runs, --only-changed, status."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from hashgate_tools.harness.kafka import consume, produce
from hashgate_tools.harness.worker import (
    ScanSetup,
    ScanTopics,
    create_scan_topics,
    read_outcomes,
    records_of,
    upload,
)
from streams.events import RescanRequest, ScanInfo, ScanKind, VerdictKind, verdict_id_for
from streams.events.rescan import Result
from streams.rescan.selection import Selection
from streams.rescan.start import RescanPlan, start_rescan
from streams.rescan.status import rescan_status
from tests.integration.rescan_support import (
    env_for,
    run_cli,
    settings_for,
    verdicts_of,
    wait_status,
)

pytest_plugins = ["tests.fixtures.simulator", "tests.integration.scan_fixtures"]
pytestmark = pytest.mark.integration

HOURS_AGO = [3, 3, 2, 2, 2, 1]  # publish time of upload n, in hours before now
TENANTS = ["a", "b", "a", "b", "a", "a"]


async def _publish_history(bootstrap: str, topic: str, now: datetime) -> None:
    """Uploads 0-5 at known times, a duplicate of upload 2, and a record that is no event."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n, (hours, tenant) in enumerate(zip(HOURS_AGO, TENANTS, strict=True)):
            event = upload(n, "https://cdn.example.com/x.jpg", tenant=tenant)
            at = int((now - timedelta(hours=hours)).timestamp() * 1000) + n
            await producer.send_and_wait(topic, event.encode(), key=event.key, timestamp_ms=at)
            if n == 2:
                await producer.send_and_wait(topic, event.encode(), key=event.key, timestamp_ms=at)
        await producer.send_and_wait(topic, b"{oops", key=b"c-x")
    finally:
        await producer.stop()


async def _requests(bootstrap: str, topics: ScanTopics, expected: int) -> dict[str, set[str]]:
    """Event ids of the rescan requests on the rescans topic, by rescan id."""
    records = await consume(
        bootstrap, [topics.name("rescans")], until=lambda r: len(r) >= expected, timeout_s=30
    )
    by_rescan: dict[str, set[str]] = defaultdict(set)
    for record in records:
        request = RescanRequest.decode(record.value)
        assert record.key == request.upload.content_id.encode()
        by_rescan[request.rescan_id].add(request.upload.event_id)
    return by_rescan


async def test_selection_by_time_tenant_and_content_ids(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = ScanTopics()
    await create_scan_topics(kafka_bootstrap, topics)
    settings = settings_for(kafka_bootstrap, topics)
    now = datetime.now(UTC)
    await _publish_history(kafka_bootstrap, topics.name("uploads"), now)

    by_time = Selection(
        since=now - timedelta(hours=2, minutes=30), until=now - timedelta(hours=1, minutes=30)
    )
    by_time_and_tenant = Selection(
        since=by_time.since, until=by_time.until, tenants=frozenset({"a"})
    )
    by_ids = Selection(content_ids=frozenset({"content-000001", "content-000005", "nope"}))
    runs = {
        "rs-time": by_time,
        "rs-tenant": by_time_and_tenant,
        "rs-ids": by_ids,
        "rs-all": Selection(),
    }
    summaries = {
        rescan_id: await start_rescan(settings, RescanPlan(rescan_id, selection))
        for rescan_id, selection in runs.items()
    }

    requested = await _requests(kafka_bootstrap, topics, expected=3 + 2 + 2 + 6)
    assert requested == {
        "rs-time": {"evt-000002", "evt-000003", "evt-000004"},
        "rs-tenant": {"evt-000002", "evt-000004"},
        "rs-ids": {"evt-000001", "evt-000005"},
        "rs-all": {f"evt-{n:06d}" for n in range(6)},
    }
    everything = summaries["rs-all"].counts
    assert (everything.read, everything.invalid, everything.duplicates) == (8, 1, 1)
    status = await rescan_status(settings, "rs-tenant")  # no worker runs: nothing done yet
    assert (status.total, status.done, status.complete) == (2, 0, False)
    assert status.manifest.selection.tenants == ["a"]

    ids = tmp_path / "ids.txt"
    ids.write_text("content-000000\ncontent-000003\n")
    env = env_for(kafka_bootstrap, topics)
    dry = await run_cli(env, "rescan", "start", "--ids-file", str(ids), "--dry-run")
    assert dry.code == 0, dry.stderr
    assert "would publish 2 rescan requests" in dry.stdout


async def test_running_the_same_rescan_twice_gives_the_same_verdict_ids(scan: ScanSetup) -> None:
    images = scan.images.images
    events = [
        upload(n, scan.images.url(images.known[0] if n % 4 == 0 else images.unknown[n % 3]))
        for n in range(12)
    ]
    worker = scan.start_worker()
    await worker.wait_ready()
    await produce(scan.bootstrap, scan.topics.name("uploads"), records_of(events))
    await read_outcomes(scan.bootstrap, scan.topics, until_events={e.event_id for e in events})
    settings = settings_for(scan.bootstrap, scan.topics)

    for _ in range(2):
        run = await run_cli(
            worker.env, "rescan", "start", "--all", "--rescan-id", "rs-same", "--wait"
        )
        assert run.code == 0, run.stderr
        assert "rescan rs-same: 12 requests published" in run.stdout
        assert "complete" in run.stdout

    live = {v.event_id: v for v in await verdicts_of(settings, None)}
    rescanned = await verdicts_of(settings, "rs-same")
    assert len(rescanned) == 24
    ids: dict[str, set[str]] = defaultdict(set)
    for verdict in rescanned:
        ids[verdict.event_id].add(verdict.verdict_id)
        assert verdict.scan == ScanInfo(kind=ScanKind.RESCAN, rescan_id="rs-same")
        assert verdict.verdict is live[verdict.event_id].verdict
    assert ids == {
        e.event_id: {
            verdict_id_for(e.event_id, ScanInfo(kind=ScanKind.RESCAN, rescan_id="rs-same"))
        }
        for e in events
    }
    assert all(v.verdict_id not in ids[v.event_id] for v in live.values())  # live ids differ

    status = await run_cli(worker.env, "rescan", "status", "rs-same", "--json")
    counts = json.loads(status.stdout)
    assert (counts["done"], counts["total"], counts["match"], counts["clear"]) == (12, 12, 3, 9)
    assert counts["complete"] is True


async def test_only_changed_emits_exactly_the_content_that_now_matches(scan: ScanSetup) -> None:
    images = scan.images.images
    pictures = [
        images.unknown[0],
        images.unknown[1],
        images.unknown[2],
        images.known[0],
        images.degraded[1],
    ]
    events = [upload(n, scan.images.url(name)) for n, name in enumerate(pictures)]
    worker = scan.start_worker()
    await worker.wait_ready()
    await produce(scan.bootstrap, scan.topics.name("uploads"), records_of(events))
    before = await read_outcomes(
        scan.bootstrap, scan.topics, until_events={e.event_id for e in events}
    )
    assert {v.content_id for v in before.matches} == {"content-000003", "content-000004"}
    settings = settings_for(scan.bootstrap, scan.topics)

    await scan.admin.add_to_db(images.read(images.unknown[0]), match_id="new-hash-1")
    plan = RescanPlan("rs-changed", Selection(), only_changed=True)
    await start_rescan(settings, plan)
    status = await wait_status(settings, "rs-changed")

    emitted = await verdicts_of(settings, "rs-changed")
    assert [(v.content_id, v.verdict) for v in emitted] == [("content-000000", VerdictKind.MATCH)]
    assert emitted[0].matches[0].match_id == "new-hash-1"
    assert (status.results[Result.MATCH], status.results[Result.UNCHANGED]) == (1, 4)
    assert status.done == status.total == 5
