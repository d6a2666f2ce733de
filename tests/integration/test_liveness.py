"""Promise 7, live: images that always fail never hold back the others; a brown-out never stops
scanning. Real broker, the simulator (with faults tied to single images), a worker subprocess.

The figures the issue asks for (added delay p50/p99, throughput share) are printed, not asserted:
speed is measured as ratios in bench/, and only the issue's bounds are asserted here.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import statistics
from datetime import UTC, datetime

from hashgate_tools.harness.kafka import committed_offsets, end_offsets, produce
from hashgate_tools.harness.waiting import eventually, throughout
from hashgate_tools.harness.worker import (
    OutcomeCollector,
    ScanSetup,
    WorkerProcess,
    records_of,
    upload,
)
from hashgate_tools.simulator import ImageFault
from streams.errors import ReasonCode
from streams.events import UploadEvent, Verdict
from streams.photodna.canary import CANARY_ATTEMPTS

pytest_plugins = ["tests.fixtures.simulator", "tests.integration.scan_fixtures"]

#: The breaker's probe period in these tests (worker_env's HASHGATE_PHOTODNA__BREAKER_RESET_S).
PROBE_PERIOD_S = 1.0
HEALTHY = 1000
#: The always-failing images' wait in the retry topic before their one retry.
RETRY_DELAY_S = 20
#: Each kind twice: the issue's five ways to fail, plus an HTML page answered with HTTP 200.
BAD_KINDS = [kind for kind in ImageFault for _ in range(2)]


def healthy_uploads(scan: ScanSetup, start: int) -> list[UploadEvent]:
    """The same images in the same order for every ``start``: runs are comparable by position."""
    unknown = scan.images.images.unknown
    return [upload(start + n, scan.images.url(unknown[n % len(unknown)])) for n in range(HEALTHY)]


def finish_times(verdicts: list[Verdict], events: list[UploadEvent], t0: datetime) -> list[float]:
    """Seconds from ``t0`` (just before publishing) to each event's verdict, by position."""
    by_id = {v.event_id: v.timings.scanned_at for v in verdicts}
    return [(by_id[e.event_id] - t0).total_seconds() for e in events]


async def uploads_lag(scan: ScanSetup) -> int:
    topic = scan.topics.name("uploads")
    committed = await committed_offsets(scan.bootstrap, scan.topics.group, topic)
    return await end_offsets(scan.bootstrap, [topic]) - sum(max(o, 0) for o in committed.values())


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


async def test_always_failing_images_reach_the_dlq_and_never_hold_back_the_others(
    scan: ScanSetup,
) -> None:
    rng = random.Random(12)
    unknown = scan.images.images.unknown
    bad = [
        upload(900_000 + n, scan.images.url(unknown[n % len(unknown)]) + f"?always-fails={n}")
        for n in range(len(BAD_KINDS))
    ]
    kinds = {e.event_id: kind for e, kind in zip(bad, BAD_KINDS, strict=True)}
    await scan.admin.set_faults(
        latency={"kind": "fixed", "ms": 10},
        timeout_s=5,
        image_faults={str(e.media_url): kinds[e.event_id] for e in bad},
    )
    worker = scan.start_worker(
        HASHGATE_SCAN__MAX_IN_FLIGHT="8",
        HASHGATE_PHOTODNA__MAX_ATTEMPTS="3",
        HASHGATE_PHOTODNA__READ_TIMEOUT_S="2",
        HASHGATE_SCAN__EVENT_RETRY_LIMIT="1",
        HASHGATE_SCAN__EVENT_RETRY_DELAY_S=str(RETRY_DELAY_S),
    )
    await worker.wait_ready()
    uploads_topic = scan.topics.name("uploads")
    async with OutcomeCollector(scan.bootstrap, scan.topics) as collector:
        clean = healthy_uploads(scan, 0)
        clean_t0 = datetime.now(UTC)
        await produce(scan.bootstrap, uploads_topic, records_of(clean))
        await collector.wait_for(HEALTHY, within=120)
        clean_times = finish_times(collector.out.verdicts, clean, clean_t0)

        healthy = healthy_uploads(scan, 100_000)
        mixed = list(healthy)
        for event in bad:
            mixed.insert(rng.randrange(len(mixed) + 1), event)
        mixed_t0 = datetime.now(UTC)
        await produce(scan.bootstrap, uploads_topic, records_of(mixed))
        healthy_ids = {e.event_id for e in healthy}
        await eventually(
            lambda: healthy_ids <= collector.out.event_ids(),
            within=120,
            what="every healthy verdict of the mixed run",
        )
        mixed_times = finish_times(collector.out.verdicts, healthy, mixed_t0)

        async with asyncio.timeout(60):
            while await uploads_lag(scan) > 0:  # noqa: ASYNC110 - polling the broker
                await asyncio.sleep(0.2)
        assert await end_offsets(scan.bootstrap, [scan.topics.name("retries")]) >= len(bad)

        await eventually(
            lambda: len(collector.out.errors) >= len(bad),
            within=120,
            what=f"{len(bad)} DLQ records",
        )
        out = collector.out

    added = [m - c for m, c in zip(mixed_times, clean_times, strict=True)]
    print(
        f"\nhealthy events' added delay: p50 {percentile(added, 0.5):.3f}s, "
        f"p99 {percentile(added, 0.99):.3f}s, max {max(added):.3f}s "
        f"(clean run p50 {statistics.median(clean_times):.3f}s)"
    )
    assert max(added) <= PROBE_PERIOD_S + 10
    assert len(out.errors) == len(bad)
    for error in out.errors:
        undocumented = kinds[error.event_id or ""] is ImageFault.UNKNOWN_STATUS
        expected = ReasonCode.UNKNOWN_STATUS if undocumented else ReasonCode.RETRIES_EXHAUSTED
        assert error.reason is expected, (error.event_id, error.detail)
        assert error.retryable and error.attempts == 2  # the first scan and one delayed retry
        waited = (error.last_seen - error.first_seen).total_seconds()
        assert waited >= RETRY_DELAY_S, f"{error.event_id} waited {waited:.1f}s in the retry topic"
    assert sorted(e.value or b"" for e in out.errors) == sorted(e.encode() for e in bad)
    unknown_status_details = [e.detail for e in out.errors if e.reason is ReasonCode.UNKNOWN_STATUS]
    assert unknown_status_details and all("3999" in d for d in unknown_status_details)
    assert not {e.event_id for e in bad} & {v.event_id for v in out.verdicts}, "never a clear"
    assert {v.event_id for v in out.verdicts} == healthy_ids | {e.event_id for e in clean}
    assert await worker.metric('hashgate_photodna_answers_total{caller="event",status="3999"}') > 0


async def test_a_brown_out_slows_scanning_but_never_stops_it_or_drains_it(
    scan: ScanSetup,
) -> None:
    """30% of all calls fail at random for 60 s (the issue's definition of a brown-out)."""
    rate = 40  # calls per second: keeps a backlog for the whole minute without huge topics
    probe_period_s = 2.0
    await scan.admin.set_faults(latency={"kind": "fixed", "ms": 10})
    worker = scan.start_worker(
        HASHGATE_PHOTODNA__KEY_QUOTA_RPS=str(rate),
        HASHGATE_PHOTODNA__BREAKER_RESET_S=str(probe_period_s),
    )
    await worker.wait_ready()
    unknown = scan.images.images.unknown
    uploads_topic = scan.topics.name("uploads")
    async with OutcomeCollector(scan.bootstrap, scan.topics) as collector:
        clean = [upload(n, scan.images.url(unknown[n % len(unknown)])) for n in range(4 * rate)]
        await produce(scan.bootstrap, uploads_topic, records_of(clean))
        await collector.wait_for(len(clean), within=120)
        clean_rate = _rate(collector.out.verdicts)

        backlog = [
            upload(100_000 + n, scan.images.url(unknown[n % len(unknown)]))
            # more than the brown-out minute can take: with 30% of calls failing, at most 70% of
            # the quota's calls are answers (28/s), about 1,700 in the minute
            for n in range(50 * rate)
        ]
        await produce(scan.bootstrap, uploads_topic, records_of(backlog))
        await eventually(
            lambda: collector.settled() > len(clean) + rate, within=60, what="the backlog flowing"
        )
        await scan.admin.set_faults(
            latency={"kind": "fixed", "ms": 10}, error_5xx_rate=0.15, status_3004_rate=0.15
        )
        started = datetime.now(UTC)
        await _sleep_through_the_brown_out(worker, 60)
        ended = datetime.now(UTC)
        await scan.admin.set_faults(latency={"kind": "fixed", "ms": 10})
        out = await collector.wait_for(len(clean) + len(backlog), within=180)

    assert out.errors == [], "a brown-out is not an event's fault: nothing in the DLQ"
    assert {v.event_id for v in out.verdicts} == {e.event_id for e in clean + backlog}
    during = sorted(v.timings.scanned_at for v in out.verdicts if started <= v.timings.scanned_at)
    during = [t for t in during if t <= ended]
    brown_rate = len(during) / (ended - started).total_seconds()
    # What is measured: the longest stretch of the brown-out minute in which no event got a
    # verdict (between two verdicts' scan times, or from the minute's start or to its end). The
    # worker stops only while its breaker is open: a stop starts at the latest when a failed
    # canary opens it (calls already past the breaker and waiting for a token still go) and
    # ends when the canary sent one probe period later (BREAKER_RESET_S) answers and the
    # first waiting event is scanned. So the bound is one probe period plus that canary and
    # that call: the canary is up to CANARY_ATTEMPTS calls of 10 ms with full-jitter backoffs
    # of at most 0.05 s and 0.1 s (worker_env's BACKOFF_BASE_S), the event's call 10 ms, and
    # the rest of the slack is the worker's and the broker's scheduling on a shared machine.
    # The period is the configured one, not a doubled one: a second failed canary in a row
    # (0.3**3 = 2.7% of the openings in a 30% brown-out) would stop scanning for two periods,
    # which the bound does not allow.
    canary_s = CANARY_ATTEMPTS * 0.010 + sum(0.05 * 2**n for n in range(CANARY_ATTEMPTS - 1))
    slack_s = canary_s + 0.010 + SCHEDULING_MARGIN_S
    edges = [started, *during, ended]
    longest_stop = max((b - a).total_seconds() for a, b in itertools.pairwise(edges))
    openings = _breaker_openings(worker, started, ended)
    print(
        f"\nbrown-out throughput {brown_rate:.1f}/s vs clean {clean_rate:.1f}/s: "
        f"{brown_rate / clean_rate:.0%}; longest stop {longest_stop:.2f}s "
        f"(bound {probe_period_s + slack_s:.2f}s); breaker open periods {openings}; "
        f"probe calls {await worker.metric('hashgate_photodna_probe_calls_total'):.0f}"
    )
    assert brown_rate < clean_rate, "30% of the calls failing must cost throughput"
    assert longest_stop <= probe_period_s + slack_s, "never stopped for more than one probe period"


#: Of the brown-out's stop bound: time for the worker to schedule the first scan after the
#: breaker closes and to timestamp its verdict, on a 2-core machine shared with the broker.
SCHEDULING_MARGIN_S = 0.8


def _breaker_openings(worker: WorkerProcess, start: datetime, end: datetime) -> list[float]:
    """The open periods the worker logged between ``start`` and ``end`` ("PhotoDNA circuit
    breaker open for 2.0s: ...", one JSON object a line)."""
    periods = []
    for line in worker.log_path.read_text(errors="replace").splitlines():
        if (match := re.search(r"circuit breaker open for ([0-9.]+)s", line)) is None:
            continue
        if start <= datetime.fromisoformat(json.loads(line)["ts"]) <= end:
            periods.append(float(match[1]))
    return periods


def _rate(verdicts: list[Verdict]) -> float:
    times = sorted(v.timings.scanned_at for v in verdicts)
    return (len(times) - 1) / (times[-1] - times[0]).total_seconds()


async def _sleep_through_the_brown_out(worker: WorkerProcess, seconds: float) -> None:
    """The brown-out lasts ``seconds`` by definition; the worker must stay up all along."""

    async def up() -> None:
        assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()

    await throughout(up, seconds=seconds, poll=1.0)
