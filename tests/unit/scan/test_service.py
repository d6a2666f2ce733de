"""The scan service's wiring, against fakes at the Kafka layer's seam: the outage gate that
stops taking records while PhotoDNA is down, readiness, and revoked partitions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import faust
import pytest
from aiokafka.errors import KafkaConnectionError
from faust.types import TP, StreamT

from hashgate_tools.harness.waiting import eventually
from streams.errors import ConfigurationError
from streams.events import ScanKind, Verdict
from streams.events.rescan import RescanRequest
from streams.kafka.app import create_app
from streams.kafka.latest_table import LatestVerdictTable
from streams.observability.metrics import ScanMetrics
from streams.photodna import (
    BreakerState,
    CircuitBreaker,
    Lane,
    MatchResult,
    MediaRef,
    RateLimiter,
)
from streams.scan import service as service_module
from streams.scan.pipeline import ScanPipeline
from streams.scan.service import ScanService
from streams.settings import ScanSettings, Settings
from tests.support import NOW, SendsByWriting, clear_result, make_upload, record_of, settle

pytestmark = pytest.mark.unit

SETTINGS = Settings()
UPLOADS = SETTINGS.topics.uploads
RETRIES = SETTINGS.topics.retries


class Consumer:
    def __init__(self) -> None:
        self.assigned: set[TP] = set()
        self.partitions: int | None = None  # the broker's count, once its metadata is known
        self.highwaters: dict[TP, int] = {}
        self._committed_offset: dict[TP, int] = {}

    def assignment(self) -> set[TP]:
        return self.assigned

    def topic_partitions(self, topic: str) -> int | None:
        return self.partitions

    def highwater(self, tp: TP) -> int | None:
        return self.highwaters.get(tp)


class FlowControl:
    def __init__(self) -> None:
        self.active = True

    def is_active(self) -> bool:
        return self.active


class App:
    """What the service uses of faust's app: the consumer's assignment, the rebalance state
    (flow control, generation) and ``crash``."""

    def __init__(self) -> None:
        self.consumer = Consumer()
        self.crashed: list[BaseException] = []
        self.flow_control = FlowControl()
        self.consumer_generation_id = 1

    async def crash(self, exc: BaseException) -> None:
        self.crashed.append(exc)


class Writer(SendsByWriting):
    """A ConfirmedSender that confirms every write at once, but those told to fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        #: How many of the next writes to a topic fail, as a broker's hiccup would.
        self.failing: dict[str, int] = {}

    async def write(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        if self.failing.get(topic):
            self.failing[topic] -= 1
            raise OSError("broker unreachable")
        self.sent.append((topic, key, value))

    async def kafka_client(self) -> Any:
        raise AssertionError("unit tests have no broker")

    def on(self, topic: str) -> list[bytes]:
        return [value for t, _, value in self.sent if t == topic]


class Matcher:
    """Answers ``clear`` to every call, or raises ``error``; while ``hold`` is clear, calls wait
    for it (every call, or only those for the URLs in ``holding`` if it names any)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.holding: set[str] = set()
        self.error: Exception | None = None

    async def match(self, media: MediaRef, *, lane: Lane) -> MatchResult:
        self.calls.append(media.media_url)
        if not self.holding or media.media_url in self.holding:
            await self.hold.wait()
        if self.error is not None:
            raise self.error
        return clear_result()


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    generation_id: int = 1
    timestamp: float = field(default_factory=time.time)  # the producer's stamp, in seconds


@dataclass
class Event:
    message: Message
    acked: list[Message] = field(default_factory=list)

    def ack(self) -> None:
        self.acked.append(self.message)


class Stream:
    """A faust stream fed by the test, one record at a time."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.acked: list[Message] = []

    def noack(self) -> Stream:
        return self

    async def events(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    def send(self, n: int, *, partition: int = 0, generation: int = 1, age_s: float = 0) -> None:
        """Upload ``n``, stamped by its producer ``age_s`` ago."""
        upload = make_upload(n)
        content_id = upload.content_id.encode()
        message = Message(
            UPLOADS, partition, n, content_id, upload.encode(), (), generation, time.time() - age_s
        )
        self.queue.put_nowait(Event(message, self.acked))

    def send_retry(self, n: int, headers: tuple[tuple[str, bytes], ...] = ()) -> None:
        """Upload ``n`` back from the delayed-retry topic, with ``headers`` as the retry wrote."""
        upload = make_upload(n)
        message = Message(RETRIES, 0, n, upload.content_id.encode(), upload.encode(), headers)
        self.queue.put_nowait(Event(message, self.acked))


class Health:
    """The breaker's probe: PhotoDNA answers while ``up``; while ``answering`` is clear, the
    probe waits for it."""

    def __init__(self) -> None:
        self.up = True
        self.answering = asyncio.Event()
        self.answering.set()

    async def answers(self) -> bool:
        await self.answering.wait()
        return self.up


@dataclass
class Rig:
    service: ScanService
    app: App
    writer: Writer
    matcher: Matcher
    breaker: CircuitBreaker
    health: Health
    stream: Stream
    consuming: asyncio.Task[None]

    def clear_verdicts(self) -> int:
        return len(self.writer.on(SETTINGS.topics.verdicts_clear))

    def metric(self, name: str, lane: Lane | None = None) -> float | None:
        labels = {} if lane is None else {"lane": lane.value}
        return self.service.metrics.registry.get_sample_value(name, labels)


@asynccontextmanager
async def running_service(
    settings: Settings = SETTINGS, quota: RateLimiter | None = None
) -> AsyncIterator[Rig]:
    app, writer, matcher, health = App(), Writer(), Matcher(), Health()
    breaker = CircuitBreaker(1, 0.05, probe=health.answers)
    latest = LatestVerdictTable(create_app(settings), settings)
    service = ScanService(
        cast(faust.App, app),
        settings,
        matcher,
        breaker,
        ScanMetrics(),
        quota=quota,
        writer=writer,
        latest=latest,
    )
    stream = Stream()
    consuming = asyncio.create_task(service.consume(cast(StreamT[bytes], stream), Lane.LIVE))
    try:
        yield Rig(service, app, writer, matcher, breaker, health, stream, consuming)
    finally:
        consuming.cancel()
        matcher.hold.set()
        await service.drain(1)
        breaker.close()


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with running_service() as rig:
        yield rig


async def photodna_down(rig: Rig) -> None:
    rig.health.up = False
    rig.breaker.record_failure()  # threshold 1: the probe is asked, and it fails
    await eventually(lambda: rig.breaker.state is BreakerState.OPEN, within=5, what="open")


async def photodna_back(rig: Rig) -> None:
    rig.health.up = True  # the breaker's next timed probe closes it
    await eventually(lambda: rig.breaker.state is BreakerState.CLOSED, within=5, what="closed")


async def test_the_gate_takes_no_record_while_photodna_is_down_and_reopens_when_it_answers(
    rig: Rig,
) -> None:
    rig.stream.send(1)
    await eventually(lambda: rig.clear_verdicts() == 1, within=5, what="first verdict")

    await photodna_down(rig)
    rig.stream.send(2)
    await eventually(rig.stream.queue.empty, within=5, what="record 2 taken from the stream")
    await settle()
    assert rig.matcher.calls == [str(make_upload(1).media_url)]  # held at the gate

    await photodna_back(rig)
    await eventually(lambda: len(rig.stream.acked) == 2, within=5, what="record 2 acked")
    assert rig.clear_verdicts() == 2 and [m.offset for m in rig.stream.acked] == [1, 2]


async def test_a_verdict_whose_write_failed_in_its_round_is_written_again_then_acked(
    rig: Rig,
) -> None:
    rig.writer.failing[SETTINGS.topics.verdicts_clear] = 1
    rig.stream.send(1)
    rig.stream.send(2)

    await eventually(lambda: len(rig.stream.acked) == 2, within=5, what="both records acked")

    assert sorted(rig.writer.on(SETTINGS.topics.verdicts_clear)) == sorted(
        rig.writer.on(SETTINGS.topics.verdicts_latest)
    )
    assert rig.clear_verdicts() == 2 and rig.writer.failing[SETTINGS.topics.verdicts_clear] == 0
    registry = rig.service.metrics.registry
    counted = registry.get_sample_value(
        "hashgate_verdicts_total", {"verdict": "clear", "lane": "live"}
    )
    assert counted == 2, "each verdict counted once, when written"


async def test_a_worker_assigned_partitions_is_not_ready_before_its_agents_consume() -> None:
    service = ScanService(
        cast(faust.App, App()),
        SETTINGS,
        Matcher(),
        CircuitBreaker(1, 0.05, probe=Health().answers),
        ScanMetrics(),
        writer=Writer(),
        latest=LatestVerdictTable(create_app(SETTINGS), SETTINGS),
    )
    service.on_partitions_assigned({TP(UPLOADS, 0)})
    assert service.readiness() == (False, "not consuming yet (waiting for the consumer group)")


async def test_readiness_says_why_the_worker_is_not_ready(rig: Rig) -> None:
    service = rig.service
    assert service.readiness() == (
        False,
        "not consuming yet (waiting for the consumer group)",
    )
    service.on_partitions_assigned({TP(UPLOADS, 0)})
    assert service.readiness() == (True, "consuming")

    await photodna_down(rig)
    assert service.readiness() == (False, "PhotoDNA circuit breaker is open")
    await photodna_back(rig)
    assert service.readiness() == (True, "consuming")

    table = cast(Any, service.latest.faust_table)
    table.restoring = True  # faust restores the table after a rebalance
    assert service.readiness() == (
        False,
        "restoring the latest-verdict table from its changelog",
    )
    table.restoring = False

    service.kafka_watch.reachable = False
    assert service.readiness() == (False, "Kafka broker unreachable")
    service.kafka_watch.reachable = True

    service.fatal = RuntimeError("bad key")
    assert service.readiness() == (False, "stopped on a fatal error")


async def test_a_checkpoint_the_broker_refuses_is_skipped_until_the_next_one(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The timer's checkpoint must not crash the worker while Kafka is away: the table then
    restores a little more after a restart, nothing else."""

    async def refused() -> None:
        raise KafkaConnectionError("broker gone")

    monkeypatch.setattr(rig.service.latest, "checkpoint", refused)
    await rig.service.checkpoint()
    assert any("not checkpointed this time" in m for m in caplog.messages)


async def test_records_of_a_revoked_partition_are_left_to_their_next_owner(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.matcher.hold.clear()
    rig.stream.send(1, partition=0)
    rig.stream.send(2, partition=1)
    pipeline = rig.service.pipelines[Lane.LIVE]
    await eventually(lambda: len(rig.matcher.calls) == 2, within=5, what="both in flight")
    assert pipeline.unacked == 2

    caplog.set_level(logging.INFO)
    await rig.service.on_partitions_revoked({TP(UPLOADS, 0)})

    assert pipeline.unacked == 1
    assert "partitions revoked: 1 unacked records left to their next owner" in caplog.messages
    rig.matcher.hold.set()
    await eventually(lambda: rig.clear_verdicts() == 2, within=5, what="both scanned")
    await eventually(lambda: pipeline.unacked == 0, within=5, what="partition 1 acked")
    assert [(m.partition, m.offset) for m in rig.stream.acked] == [(1, 2)]


async def test_a_retry_record_goes_back_to_the_lane_it_came_from(rig: Rig) -> None:
    retries = Stream()
    upload = make_upload(7)
    headers = (("hashgate-lane", b"rescan"), ("hashgate-attempts", b"1"))
    request = RescanRequest(rescan_id="rs-1", requested_at=NOW, upload=upload)
    message = Message(SETTINGS.topics.retries, 0, 3, b"content-7", request.encode(), headers)
    retries.queue.put_nowait(Event(message, retries.acked))
    task = asyncio.create_task(rig.service.consume_retries(cast(StreamT[bytes], retries)))
    try:
        await eventually(lambda: retries.acked != [], within=5, what="retry scanned")
    finally:
        task.cancel()

    [written] = rig.writer.on(SETTINGS.topics.verdicts_clear)
    verdict = Verdict.decode(written)
    assert (verdict.scan.kind, verdict.scan.rescan_id) == (ScanKind.RESCAN, "rs-1")


async def _take_retries(rig: Rig, retries: Stream) -> asyncio.Task[None]:
    return asyncio.create_task(rig.service.consume_retries(cast(StreamT[bytes], retries)))


async def test_a_retry_record_without_a_lane_header_goes_to_the_live_lane(rig: Rig) -> None:
    retries = Stream()
    retries.send_retry(8)
    rig.service.pipelines[Lane.RESCAN].stop_taking()  # a record sent there would be refused
    task = await _take_retries(rig, retries)
    try:
        await eventually(lambda: retries.acked != [], within=5, what="retry scanned")
    finally:
        task.cancel()
    [written] = rig.writer.on(SETTINGS.topics.verdicts_clear)
    assert Verdict.decode(written).scan.kind is ScanKind.LIVE


async def test_a_retry_waits_for_its_not_before_time(rig: Rig) -> None:
    retries = Stream()
    not_before = datetime.now(UTC) + timedelta(seconds=0.5)
    retries.send_retry(8, (("hashgate-not-before", not_before.isoformat().encode()),))
    task = await _take_retries(rig, retries)
    try:
        await settle()
        assert rig.matcher.calls == []
        await eventually(lambda: retries.acked != [], within=5, what="scanned in its time")
        assert datetime.now(UTC) >= not_before
    finally:
        task.cancel()


async def test_a_retry_due_while_photodna_is_down_waits_at_the_gate(rig: Rig) -> None:
    retries = Stream()
    await photodna_down(rig)
    retries.send_retry(9)
    task = await _take_retries(rig, retries)
    try:
        await eventually(retries.queue.empty, within=5, what="record 9 taken")
        await settle()
        assert rig.matcher.calls == []
        await photodna_back(rig)
        await eventually(lambda: retries.acked != [], within=5, what="scanned")
    finally:
        task.cancel()


async def test_the_gate_stays_shut_while_the_probe_decides(rig: Rig) -> None:
    await photodna_down(rig)
    rig.health.answering.clear()  # the next timed probe waits: the breaker stays half-open
    await eventually(
        lambda: rig.breaker.state is BreakerState.HALF_OPEN, within=5, what="half-open"
    )
    rig.stream.send(1)
    await eventually(rig.stream.queue.empty, within=5, what="record 1 taken")
    await settle()
    assert rig.matcher.calls == []
    rig.health.up = True
    rig.health.answering.set()
    await eventually(lambda: len(rig.stream.acked) == 1, within=5, what="scanned once closed")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ConfigurationError("PhotoDNA refused the subscription key"), "configuration error"),
        (RuntimeError("a bug"), "fatal error"),
    ],
)
async def test_a_fatal_error_in_one_lane_stops_every_lane_and_crashes_the_worker(
    rig: Rig, caplog: pytest.LogCaptureFixture, error: Exception, kind: str
) -> None:
    stopping = asyncio.create_task(rig.service.stop_on_failure())
    rig.matcher.error = error
    rig.stream.send(1)
    await eventually(lambda: rig.app.crashed != [], within=5, what="the worker crashed")
    await stopping

    assert rig.app.crashed == [error] and rig.service.fatal is error
    assert rig.stream.acked == []  # the failed record stays for the next owner
    assert f"stopping the worker on a {kind}, acking nothing more: {error}" in caplog.messages
    assert rig.service.readiness() == (False, "stopped on a fatal error")
    # The other lane takes nothing more either: a record it acked past the failed one's
    # partition would commit past a record no one scanned.
    acks: list[int] = []
    record = record_of(make_upload(2).encode())
    assert not await rig.service.pipelines[Lane.RESCAN].submit(record, lambda: acks.append(2))
    await settle()
    assert rig.matcher.calls == [str(make_upload(1).media_url)] and acks == []
    # Both agents' loops end at their next record, which stays unacked.
    retries = Stream()
    retries.send_retry(3)
    taking_retries = await _take_retries(rig, retries)
    rig.stream.send(4)
    async with asyncio.timeout(5):
        await asyncio.gather(rig.consuming, taking_retries)
    assert rig.stream.acked == [] and retries.acked == []


async def test_a_cancelled_failure_watch_leaves_no_task_behind(rig: Rig) -> None:
    def watching() -> list[asyncio.Task[object]]:
        return [
            t
            for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", "") == "ScanPipeline.wait_failed"
        ]

    stopping = asyncio.create_task(rig.service.stop_on_failure())
    await eventually(lambda: len(watching()) == len(Lane), within=5, what="one per lane")
    stopping.cancel()  # the worker shuts down
    await eventually(lambda: watching() == [], within=5, what="every watch cancelled")


async def test_a_lane_calls_photodna_at_most_max_in_flight_at_once() -> None:
    # docs/operations.md: MAX_IN_FLIGHT calls per lane; a record frees its call slot once
    # PhotoDNA answered, so a lane takes two records per call slot.
    async with running_service(Settings(scan=ScanSettings(max_in_flight=3))) as rig:
        rig.matcher.hold.clear()
        for n in range(1, 11):
            rig.stream.send(n)
        pipeline = rig.service.pipelines[Lane.LIVE]
        await eventually(lambda: pipeline.in_flight == 6, within=5, what="6 records taken")
        await settle()
        assert len(rig.matcher.calls) == 3 and pipeline.in_flight == 6
        rig.matcher.hold.set()
        await eventually(lambda: len(rig.stream.acked) == 10, within=5, what="all acked")


async def test_live_records_that_queue_shrink_the_rescan_lane_and_prompt_ones_grow_it() -> None:
    # docs/operations.md, "The rescan lane yields to live uploads".
    async with running_service(Settings(scan=ScanSettings(max_in_flight=8))) as rig:
        slots = "hashgate_rescan_call_slots"
        rig.stream.send(1)  # stamped now: the base delay
        await eventually(lambda: len(rig.stream.acked) == 1, within=5, what="record 1 acked")
        await rig.service.yield_to_live()
        assert rig.metric(slots) == 8
        rig.stream.send(2, age_s=1.0)  # reaches the agent a second after its producer sent it
        await eventually(lambda: len(rig.stream.acked) == 2, within=5, what="record 2 acked")
        await rig.service.yield_to_live()
        assert rig.metric(slots) == 4
        await rig.service.yield_to_live()  # a period without live records
        assert rig.metric(slots) == 5


async def test_a_live_record_reports_its_delay_in_ms_from_its_producers_stamp(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    delays: list[float] = []
    monkeypatch.setattr(rig.service.rescan_yield, "live_delay", delays.append)
    monkeypatch.setattr(service_module, "time", SimpleNamespace(time=lambda: 1000.0))
    rig.stream.send(1, age_s=time.time() - 400.0)  # stamped at 400 s; the worker's clock at 1000
    await eventually(lambda: len(rig.stream.acked) == 1, within=5, what="record 1 acked")
    assert delays == [pytest.approx(600_000.0, abs=1.0)]


async def fill_the_live_lane_behind_record_1(rig: Rig, *, within: float) -> ScanPipeline:
    """With MAX_IN_FLIGHT 2: record 1 never finishes, records 2 to 32 do and wait behind it
    unacked (16 x 2 in all), and record 33 waits for room; 34 to 40 stay in the stream."""
    rig.matcher.holding = {str(make_upload(1).media_url)}
    rig.matcher.hold.clear()
    for n in range(1, 41):
        rig.stream.send(n)
    pipeline = rig.service.pipelines[Lane.LIVE]
    await eventually(lambda: pipeline.unacked == 32, within=within, what="32 records taken")
    await settle()
    assert rig.stream.queue.qsize() == 40 - 33  # record 33 waits for room
    return pipeline


async def test_a_lane_takes_at_most_16_x_max_in_flight_records_past_an_unfinished_one() -> None:
    # docs/operations.md: the memory bound of promise 3.
    async with running_service(Settings(scan=ScanSettings(max_in_flight=2))) as rig:
        pipeline = await fill_the_live_lane_behind_record_1(rig, within=10)
        assert pipeline.unacked == 32
        assert rig.stream.acked == []  # nothing acked past the unfinished record 1
        rig.matcher.hold.set()
        await eventually(lambda: len(rig.stream.acked) == 40, within=10, what="all acked")
        assert [m.offset for m in rig.stream.acked] == list(range(1, 41))


async def test_a_full_lane_takes_records_again_after_its_partition_is_revoked_and_reassigned() -> (
    None
):
    """The broker-restart stall: Kafka went away while the lane was full, the rebalance that
    followed revoked and gave back its partition, and the lane must read it again from the
    committed offset, neither stalled nor tripping over the record that waited meanwhile."""
    async with running_service(Settings(scan=ScanSettings(max_in_flight=2))) as rig:
        await fill_the_live_lane_behind_record_1(rig, within=5)  # Kafka gone: record 1 hangs

        rig.app.flow_control.active = False  # faust: a rebalance begins
        await rig.service.on_partitions_revoked({TP(UPLOADS, 0)})
        rig.app.consumer_generation_id = 2
        rig.app.flow_control.active = True
        rig.stream.queue = asyncio.Queue()  # faust drops what it had fetched before
        for n in range(1, 41):
            rig.stream.send(n, generation=2)  # re-read from the committed offset
        rig.matcher.hold.set()

        await eventually(lambda: len(rig.stream.acked) == 40, within=10, what="all re-read acked")
        assert [m.offset for m in rig.stream.acked] == list(range(1, 41))
        assert {m.generation_id for m in rig.stream.acked} == {2}
        assert not rig.consuming.done(), "the agent kept going"


async def test_the_quota_share_follows_the_upload_partitions_assigned() -> None:
    limiter = RateLimiter(8)
    async with running_service(quota=limiter) as rig:
        others = {TP(SETTINGS.topics.rescans, 0), TP(RETRIES, 0)}
        rig.service.on_partitions_assigned({TP(UPLOADS, 0), TP(UPLOADS, 1), *others})
        assert limiter.configured_rate == 8 * 2 / SETTINGS.topics.partitions  # as configured

        rig.app.consumer.partitions = 4  # the broker's count, once known, wins
        rig.service.on_partitions_assigned({TP(UPLOADS, 0), TP(UPLOADS, 1)})
        assert limiter.configured_rate == 4


async def test_metrics_show_each_lane_and_the_breaker(rig: Rig) -> None:
    rig.matcher.hold.clear()
    rig.stream.send(1)
    rig.stream.send(2)
    await eventually(lambda: len(rig.matcher.calls) == 2, within=5, what="both in flight")

    assert rig.metric("hashgate_events_in_total", Lane.LIVE) == 2
    assert rig.metric("hashgate_in_flight", Lane.LIVE) == 2
    assert rig.metric("hashgate_unacked", Lane.LIVE) == 2
    assert rig.metric("hashgate_in_flight", Lane.RESCAN) == 0
    rig.matcher.hold.set()
    await eventually(lambda: len(rig.stream.acked) == 2, within=5, what="both acked")
    assert rig.metric("hashgate_unacked", Lane.LIVE) == 0

    closed = rig.metric("hashgate_breaker_state")
    await photodna_down(rig)
    opened = rig.metric("hashgate_breaker_state")
    await photodna_back(rig)
    assert (closed, opened, rig.metric("hashgate_breaker_state")) == (0, 2, 0)


async def test_drain_reports_every_lane_and_readiness_drops(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.service.on_partitions_assigned({TP(UPLOADS, 0)})
    rig.matcher.hold.clear()
    rig.stream.send(1)
    await eventually(lambda: len(rig.matcher.calls) == 1, within=5, what="in flight")
    request = RescanRequest(rescan_id="rs-1", requested_at=NOW, upload=make_upload(2))
    rescan = asyncio.create_task(
        rig.service.pipelines[Lane.RESCAN].submit(record_of(request.encode()), lambda: None)
    )
    await eventually(lambda: len(rig.matcher.calls) == 2, within=5, what="rescan in flight")
    await rescan

    report = await rig.service.drain(0.05)

    assert (report.finished, report.abandoned) == (0, 2)
    assert "drained: 0 in-flight scans finished, 2 abandoned (left unacked)" in caplog.messages
    assert rig.service.readiness() == (False, "not consuming yet (waiting for the consumer group)")


async def test_lag_counts_the_source_partitions_only(rig: Rig) -> None:
    consumer = rig.app.consumer
    source, output = TP(UPLOADS, 0), TP(SETTINGS.topics.verdicts_clear, 0)
    consumer.assigned = {source, output}
    consumer.highwaters = {source: 10, output: 50}
    consumer._committed_offset = {source: 4}

    assert rig.service.lag() == {(UPLOADS, 0): 6}
