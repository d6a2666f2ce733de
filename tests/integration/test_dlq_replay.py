"""DLQ replay after an outage of the image host: every dead-lettered record ends up scanned."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from streams.errors import ReasonCode
from streams.events import VerdictKind
from streams.events.rescan import Result
from streams.rescan.selection import Selection
from streams.rescan.start import RescanPlan, start_rescan
from streams.scan.record import ATTEMPTS_HEADER, REPLAYS_HEADER
from tests.integration.kafkautil import consume, produce
from tests.integration.rescan_support import (
    run_cli,
    settings_for,
    verdicts_of,
    wait_status,
    wait_verdicts,
)
from tests.integration.worker_harness import (
    OutcomeCollector,
    ScanSetup,
    free_port,
    read_outcomes,
    records_of,
    upload,
)
from tests.waiting import eventually

pytest_plugins = ["tests.fixtures.simulator", "tests.integration.scan_fixtures"]
pytestmark = pytest.mark.integration


@asynccontextmanager
async def image_host(folder: Path, port: int) -> AsyncIterator[None]:
    """The platform's image host, on a port fixed before it starts (URLs already point there)."""
    app = web.Application()
    app.router.add_static("/images", folder)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def test_replay_after_an_image_host_outage_scans_every_record(scan: ScanSetup) -> None:
    images = scan.images.images
    port = free_port()
    names = [images.known[0], images.unknown[0], images.unknown[1], images.degraded[2]] * 3
    events = [upload(n, f"http://127.0.0.1:{port}/images/{name}") for n, name in enumerate(names)]
    broken = upload(99, scan.images.url(images.not_an_image))  # permanent: never replayed
    worker = scan.start_worker(
        HASHGATE_MEDIA__DELIVERY_MODE="bytes", HASHGATE_MEDIA__ALLOW_HOSTS='["127.0.0.1"]'
    )
    await worker.wait_ready()
    settings = settings_for(scan.bootstrap, scan.topics)

    # The image host is down: live scans and a rescan of the same uploads are dead-lettered.
    await produce(scan.bootstrap, scan.topics.name("uploads"), records_of([*events, broken]))
    down = await read_outcomes(
        scan.bootstrap, scan.topics, until_events={e.event_id for e in [*events, broken]}
    )
    assert down.verdicts == []
    assert {e.reason for e in down.errors} == {
        ReasonCode.MEDIA_UNREACHABLE,
        ReasonCode.NOT_AN_IMAGE,
    }
    await start_rescan(settings, RescanPlan("rs-outage", Selection(tenants=frozenset({"acme"}))))
    during = await wait_status(settings, "rs-outage")
    assert during.results[Result.ERROR] == 13  # 12 unreachable images and the broken one

    async with image_host(images.folder, port):
        dry = await run_cli(worker.env, "dlq", "replay", "--dry-run", "--json")
        assert json.loads(dry.stdout)["replayed"] == 24
        replay = await run_cli(worker.env, "dlq", "replay", "--json")
        assert replay.code == 0, replay.stderr
        report = json.loads(replay.stdout)
        assert report["replayed"] == 24
        assert report["skipped"] == {"not_retryable": 2}
        assert {
            (r["reason"], r["topic"], r["count"]) for r in report["replayed_by_reason_and_topic"]
        } == {
            ("media_unreachable", scan.topics.name("uploads"), 12),
            ("media_unreachable", scan.topics.name("rescans"), 12),
        }

        after = await wait_status(settings, "rs-outage", lambda s: s.results[Result.ERROR] == 1)
        live = await wait_verdicts(settings, None, 12)

    expected = {
        e.event_id: VerdictKind.MATCH if n % 4 in (0, 3) else VerdictKind.CLEAR
        for n, e in enumerate(events)
    }
    assert {v.event_id: v.verdict for v in live} == expected
    rescanned = await verdicts_of(settings, "rs-outage")
    assert {v.event_id: v.verdict for v in rescanned} == expected
    assert (after.results[Result.MATCH], after.results[Result.CLEAR]) == (6, 6)
    assert after.done == after.total == 13  # the broken image is still an error

    replayed = await consume(
        scan.bootstrap,
        [scan.topics.name("uploads")],
        until=lambda records: sum(1 for r in records if dict(r.headers).get(REPLAYS_HEADER)) >= 12,
        timeout_s=30,
    )
    headers = [dict(r.headers) for r in replayed if REPLAYS_HEADER in dict(r.headers)]
    assert {(h[REPLAYS_HEADER], h[ATTEMPTS_HEADER]) for h in headers} == {(b"1", b"1")}


async def test_five_replays_without_a_range_send_each_record_at_most_once_per_run(
    scan: ScanSetup,
) -> None:
    # The image host stays down: every replay of the upload fails again and returns to the DLQ.
    event = upload(1, f"http://127.0.0.1:{free_port()}/images/gone.png")
    bytes_mode = {
        "HASHGATE_MEDIA__DELIVERY_MODE": "bytes",
        "HASHGATE_MEDIA__ALLOW_HOSTS": '["127.0.0.1"]',
    }
    worker = scan.start_worker(**bytes_mode)
    await worker.wait_ready()

    async def replay() -> dict[str, Any]:
        run = await run_cli(worker.env, "dlq", "replay", "--json")
        assert run.code == 0, run.stderr
        report: dict[str, Any] = json.loads(run.stdout)
        return report

    async with OutcomeCollector(scan.bootstrap, scan.topics) as dlq:

        async def dlq_copies(count: int) -> None:
            await eventually(
                lambda: len(dlq.raw_errors) == count, within=60, what=f"DLQ copy {count}"
            )

        await produce(scan.bootstrap, scan.topics.name("uploads"), records_of([event]))
        await dlq_copies(1)
        # No worker scans meanwhile, so the first run's replay is still on its way.
        worker.signal(signal.SIGTERM)
        assert await worker.wait_exit() == 0
        runs = [await replay(), await replay()]
        assert runs[1]["skipped"] == {"already_replayed": 1}
        worker = scan.start_worker(**bytes_mode)
        await dlq_copies(2)
        for copies in (3, 4, 5):
            runs.append(await replay())
            if runs[-1]["replayed"]:
                await dlq_copies(copies)

    # Once per run until the replay limit (3) stops it; never an older copy again.
    assert [run["replayed"] for run in runs] == [1, 0, 1, 1, 0]
    assert [run["skipped"].get("already_replayed", 0) for run in runs] == [0, 1, 1, 2, 3]
    assert runs[-1]["skipped"]["replay_limit"] == 1
    assert len(dlq.raw_errors) == 4
    assert [e.reason for e in dlq.out.errors] == [ReasonCode.MEDIA_UNREACHABLE] * 4
