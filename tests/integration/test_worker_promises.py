"""The six promises, each against the real broker, the simulator and a worker subprocess.

Every test here would fail if its promise broke: events lost after kill -9, a clear without an
OK answer, backlog drained into the DLQ during an outage, poison that stops the stream, ...
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections import defaultdict

from hashgate_tools.harness.kafka import Record, committed_offsets, end_offsets, produce
from hashgate_tools.harness.waiting import eventually
from hashgate_tools.harness.worker import (
    OutcomeCollector,
    Outcomes,
    ScanSetup,
    WorkerProcess,
    events_below,
    records_of,
    upload,
)
from streams.errors import ReasonCode
from streams.photodna.canary import CANARY_ATTEMPTS
from tests.integration.promise_support import assert_every_event_once_and_right, uploads

pytest_plugins = ["tests.fixtures.simulator", "tests.integration.scan_fixtures"]


async def test_kill_9_three_times_loses_nothing(scan: ScanSetup) -> None:
    events, known = uploads(scan, 2000)
    await produce(scan.bootstrap, scan.topics.name("uploads"), records_of(events))
    async with OutcomeCollector(scan.bootstrap, scan.topics) as collector:
        for checkpoint in (400, 900, 1400):
            worker = scan.start_worker()
            await worker.wait_ready()
            await collector.wait_for(checkpoint, within=180)
            worker.signal(signal.SIGKILL)
            assert await worker.wait_exit() == -signal.SIGKILL
        scan.start_worker()
        out = await collector.wait_for(len(events), within=240)
    assert_every_event_once_and_right(out, events, known)


async def test_two_workers_one_killed_loses_nothing(scan: ScanSetup) -> None:
    events, known = uploads(scan, 2000, seed=2)
    first, second = scan.start_worker(), scan.start_worker()
    await asyncio.gather(first.wait_ready(), second.wait_ready())
    async with OutcomeCollector(scan.bootstrap, scan.topics) as collector:
        await produce(scan.bootstrap, scan.topics.name("uploads"), records_of(events))
        await collector.wait_for(600, within=180)
        first.signal(signal.SIGKILL)
        out = await collector.wait_for(len(events), within=240)
    assert_every_event_once_and_right(out, events, known)


async def test_outage_pauses_and_resumes_without_dlq_or_false_clear(scan: ScanSetup) -> None:
    events, known = uploads(scan, 1500, seed=3)
    await scan.admin.set_faults(latency={"kind": "fixed", "ms": 5})
    worker = scan.start_worker()
    await worker.wait_ready()
    async with OutcomeCollector(scan.bootstrap, scan.topics) as collector:
        await produce(scan.bootstrap, scan.topics.name("uploads"), records_of(events))
        await collector.wait_for(300, within=120)
        canary_calls, outage_started = await worker.metric(PROBE_CALLS), time.monotonic()
        await scan.admin.set_faults(outage=True)
        await _until_metric(worker, "hashgate_breaker_state", 2)
        assert (await worker.get("/readyz")).status_code == 503
        assert (await worker.get("/readyz")).json()["reason"] == "PhotoDNA circuit breaker is open"
        during = collector.settled()
        # The outage lasts as long as the worker takes to fail health probes, not a fixed
        # time: while open, probes back off 1, 2, 4, 8, 8 s (each is CANARY_ATTEMPTS calls),
        # so 3 more failed probes take ~7 s (in-flight scans give up or wait), 5 more ~23 s.
        failed = await worker.metric(FAILED_PROBES)
        await _until_metric(worker, FAILED_PROBES, failed + 3 * CANARY_ATTEMPTS, at_least=True)
        group, uploads_topic = scan.topics.group, scan.topics.name("uploads")
        offsets_during = await committed_offsets(scan.bootstrap, group, uploads_topic)
        await _until_metric(worker, FAILED_PROBES, failed + 5 * CANARY_ATTEMPTS, at_least=True)
        assert await committed_offsets(scan.bootstrap, group, uploads_topic) == offsets_during
        assert collector.settled() - during <= 70, "only in-flight scans may finish"
        assert out_of(collector.out) == [], "no DLQ record for an outage"
        canary_calls = await worker.metric(PROBE_CALLS) - canary_calls
        outage_s = time.monotonic() - outage_started
        await scan.admin.set_faults(outage=False)
        print(
            f"\ncanary calls during the outage: {canary_calls:.0f} in {outage_s:.1f}s, "
            f"{canary_calls / outage_s * 60:.1f}/min (BREAKER_RESET_S=1 here: open 1, 2, 4, 8 s; "
            "the defaults settle at 3 calls per 40 s)"
        )
        out = await collector.wait_for(len(events), within=180)
        await _until_metric(worker, "hashgate_breaker_state", 0)
    log = worker.log_path.read_text()  # the lines docs/operations.md quotes, in this order
    assert (
        log.index("PhotoDNA health probe failed: ")
        < log.index("PhotoDNA circuit breaker open for ")
        < log.index("PhotoDNA unavailable: taking no new records until it answers")
        < log.index("PhotoDNA answering again: taking records again")
    )
    assert_every_event_once_and_right(out, events, known)
    stats = await scan.admin.stats()
    canary_clears = await worker.metric(
        'hashgate_photodna_answers_total{caller="probe",status="3000"}'
    )
    assert canary_clears >= 1, "the canary, not an event, found PhotoDNA back"
    assert stats["ok_clear"] == len(out.clears) + canary_clears, "every clear from an OK answer"
    assert stats["http_5xx"] > 0


def out_of(out: Outcomes) -> list[str]:
    return [e.reason.value for e in out.errors]


PROBE_CALLS = "hashgate_photodna_probe_calls_total"
FAILED_PROBES = 'hashgate_photodna_answers_total{caller="probe",status="http_503"}'


async def _until_metric(
    worker: WorkerProcess, name: str, value: float, *, at_least: bool = False
) -> None:
    async def check() -> bool:
        seen = await worker.metric(name)
        return seen >= value if at_least else seen == value

    async with asyncio.timeout(60):
        while not await check():  # noqa: ASYNC110 - polling another process's /metrics
            await asyncio.sleep(0.2)


async def test_poison_records_reach_the_dlq_with_reason_and_bytes(scan: ScanSetup) -> None:
    rng = random.Random(5)
    good, known = uploads(scan, 1000, seed=5)
    template = json.loads(good[0].encode())
    poison: list[tuple[bytes, ReasonCode]] = []
    for n in range(100):
        poison.append((b"\xff" + rng.randbytes(rng.randint(1, 200)), ReasonCode.UNDECODABLE))
        poison.append(
            (b'{"schema_version": 1, "event_id": "x' + str(n).encode(), ReasonCode.UNDECODABLE)
        )
        poison.append(
            (
                json.dumps({**template, "event_id": f"v{n}", "schema_version": 99}).encode(),
                ReasonCode.UNSUPPORTED_SCHEMA_VERSION,
            )
        )
        poison.append(
            (
                json.dumps({k: v for k, v in template.items() if k != "content_id"}).encode(),
                ReasonCode.INVALID_EVENT,
            )
        )
    for n in range(50):
        not_image = upload(100_000 + n, scan.images.url(scan.images.images.not_an_image))
        poison.append((not_image.encode(), ReasonCode.NOT_AN_IMAGE))
        private = [
            "http://10.255.255.1/a.png",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:9/x.png",
            "http://192.168.255.254/img.jpg",
        ][n % 4]
        poison.append((upload(200_000 + n, private).encode(), ReasonCode.MEDIA_FORBIDDEN_ADDRESS))
    mixed = [Record(e.key, e.encode()) for e in good]
    for raw, _ in poison:
        mixed.insert(rng.randrange(len(mixed) + 1), Record(b"poison", raw))
    worker = scan.start_worker(
        HASHGATE_MEDIA__DELIVERY_MODE="bytes", HASHGATE_MEDIA__ALLOW_HOSTS='["127.0.0.1"]'
    )
    await worker.wait_ready()
    async with OutcomeCollector(scan.bootstrap, scan.topics) as collector:
        await produce(scan.bootstrap, scan.topics.name("uploads"), mixed)
        await eventually(
            lambda: (
                len(collector.out.errors) >= 500
                and {e.event_id for e in good} <= collector.out.event_ids()
            ),
            within=240,
            what="every good verdict and 500 DLQ records",
        )
        out = collector.out
    assert len(out.errors) == 500
    expected = sorted((raw, reason.value) for raw, reason in poison)
    got = sorted((e.value or b"", e.reason.value) for e in out.errors)
    assert got == expected, "each poison record with its precise reason and exact bytes"
    assert all(e.key == b"poison" for e in out.errors)
    assert {v.event_id for v in out.verdicts} == {e.event_id for e in good}
    assert {v.event_id for v in out.matches} == known


async def test_verdicts_of_one_content_id_keep_input_order(scan: ScanSetup) -> None:
    await scan.admin.set_faults(latency={"kind": "uniform", "min_ms": 0, "max_ms": 25})
    unknown = scan.images.images.unknown
    events = [
        upload(n, scan.images.url(unknown[n % len(unknown)]), content_id=f"item-{n % 8}")
        for n in range(400)
    ]
    worker = scan.start_worker()
    await worker.wait_ready()
    await produce(scan.bootstrap, scan.topics.name("uploads"), records_of(events))
    async with OutcomeCollector(scan.bootstrap, scan.topics) as collector:
        out = await collector.wait_for(len(events), within=180)
    assert out.matches == [] and out.errors == []
    seen: dict[str, list[str]] = defaultdict(list)
    for verdict in out.clears:  # one topic, keyed by content id: read in partition order
        seen[verdict.content_id].append(verdict.event_id)
    for content_id, event_ids in seen.items():
        assert event_ids == sorted(event_ids), f"{content_id} out of order"
    assert sum(len(ids) for ids in seen.values()) == len(events)


async def test_rejected_key_stops_the_worker_loudly_and_acks_nothing(scan: ScanSetup) -> None:
    events, _ = uploads(scan, 50, seed=6)
    await produce(scan.bootstrap, scan.topics.name("uploads"), records_of(events))
    worker = scan.start_worker(HASHGATE_PHOTODNA__SUBSCRIPTION_KEY="not-the-right-key")
    assert await worker.wait_exit(within=120) == 78
    log = worker.log_path.read_text()
    assert "configuration error" in log and "not-the-right-key" not in log
    committed = await committed_offsets(
        scan.bootstrap, scan.topics.group, scan.topics.name("uploads")
    )
    assert all(offset <= 0 for offset in committed.values()), committed
    assert await end_offsets(scan.bootstrap, scan.topics.outputs) == 0, "nothing written"


async def test_sigterm_drains_commits_only_finished_work_and_exits_0(scan: ScanSetup) -> None:
    events, known = uploads(scan, 2000, seed=7)
    await scan.admin.set_faults(latency={"kind": "fixed", "ms": 40})
    await produce(scan.bootstrap, scan.topics.name("uploads"), records_of(events))
    async with OutcomeCollector(scan.bootstrap, scan.topics) as collector:
        worker = scan.start_worker()
        await collector.wait_for(300, within=120)
        worker.signal(signal.SIGTERM)
        assert await worker.wait_exit(within=60) == 0
        assert "drained" in worker.log_path.read_text()
        committed = await committed_offsets(
            scan.bootstrap, scan.topics.group, scan.topics.name("uploads")
        )
        # Every event below a committed offset must have its outcome: commit only what's acked.
        covered = await events_below(scan.bootstrap, scan.topics.name("uploads"), committed)
        assert covered
        await eventually(
            lambda: covered <= collector.out.event_ids(),
            within=30,
            what="outcomes of every committed event",
        )
        scan.start_worker()
        out = await collector.wait_for(len(events), within=180)
    assert_every_event_once_and_right(out, events, known)


async def test_one_event_failing_while_healthy_is_retried_then_dead_lettered(
    scan: ScanSetup,
) -> None:
    bad = upload(999_999, scan.images.hang_url(30))
    worker = scan.start_worker(
        HASHGATE_PHOTODNA__READ_TIMEOUT_S="1.5",
        HASHGATE_PHOTODNA__MAX_ATTEMPTS="2",
        HASHGATE_SCAN__EVENT_RETRY_LIMIT="2",
        HASHGATE_SCAN__EVENT_RETRY_DELAY_S="1",
    )
    await worker.wait_ready()
    unknown = scan.images.images.unknown
    healthy = [upload(n, scan.images.url(unknown[n % len(unknown)])) for n in range(40)]
    async with OutcomeCollector(scan.bootstrap, scan.topics) as collector:
        # Healthy traffic alongside: PhotoDNA answers, so this event fails on its own.
        await produce(scan.bootstrap, scan.topics.name("uploads"), records_of([bad, *healthy]))
        out = await collector.wait_for(1 + len(healthy), within=120)
    [error] = out.errors
    assert error.reason is ReasonCode.RETRIES_EXHAUSTED
    assert error.retryable and error.attempts == 3
    assert error.value == bad.encode() and error.event_id == bad.event_id
    assert {v.event_id for v in out.verdicts} == {e.event_id for e in healthy}
    assert await worker.metric("hashgate_event_retries_total") == 2
    log = worker.log_path.read_text()
    assert "scan failed while PhotoDNA is otherwise healthy; retrying later" in log
