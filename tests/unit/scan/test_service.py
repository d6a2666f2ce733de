"""The scan service's wiring, against fakes at the Kafka layer's seam: the outage gate that
stops taking records while PhotoDNA is down, readiness, and revoked partitions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import faust
import pytest
from faust.types import TP, StreamT

from hashgate_tools.harness.waiting import eventually
from streams.events import ScanKind, Verdict
from streams.events.rescan import RescanRequest
from streams.kafka.app import create_app
from streams.kafka.latest_table import LatestVerdictTable
from streams.observability.metrics import ScanMetrics
from streams.photodna import BreakerState, CircuitBreaker, Lane, MatchResult, MediaRef
from streams.scan.service import ScanService
from streams.settings import Settings
from tests.support import NOW, clear_result, make_upload, settle

pytestmark = pytest.mark.unit

SETTINGS = Settings()
UPLOADS = SETTINGS.topics.uploads


class Consumer:
    def __init__(self) -> None:
        self.assigned: set[TP] = set()

    def assignment(self) -> set[TP]:
        return self.assigned

    def topic_partitions(self, topic: str) -> int | None:
        return None


class App:
    """What the service uses of faust's app: the consumer's assignment and ``crash``."""

    def __init__(self) -> None:
        self.consumer = Consumer()
        self.crashed: list[BaseException] = []

    async def crash(self, exc: BaseException) -> None:
        self.crashed.append(exc)


class Writer:
    """A ConfirmedWriter that confirms every write at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    async def write(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        self.sent.append((topic, key, value))

    async def kafka_client(self) -> Any:
        raise AssertionError("unit tests have no broker")

    def on(self, topic: str) -> list[bytes]:
        return [value for t, _, value in self.sent if t == topic]


class Matcher:
    """Answers ``clear`` to every call; while ``hold`` is clear, calls wait for it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.hold = asyncio.Event()
        self.hold.set()

    async def match(self, media: MediaRef, *, lane: Lane) -> MatchResult:
        self.calls.append(media.media_url)
        await self.hold.wait()
        return clear_result()


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


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

    def send(self, n: int, *, partition: int = 0) -> None:
        upload = make_upload(n)
        message = Message(UPLOADS, partition, n, upload.content_id.encode(), upload.encode())
        self.queue.put_nowait(Event(message, self.acked))


class Health:
    """The breaker's probe: PhotoDNA answers while ``up``."""

    def __init__(self) -> None:
        self.up = True

    async def answers(self) -> bool:
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


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    app, writer, matcher, health = App(), Writer(), Matcher(), Health()
    breaker = CircuitBreaker(1, 0.05, probe=health.answers)
    latest = LatestVerdictTable(create_app(SETTINGS), SETTINGS)
    service = ScanService(
        cast(faust.App, app),
        SETTINGS,
        matcher,
        breaker,
        ScanMetrics(),
        writer=writer,
        latest=latest,
    )
    stream = Stream()
    consuming = asyncio.create_task(service.consume(cast(StreamT[bytes], stream), Lane.LIVE))
    yield Rig(service, app, writer, matcher, breaker, health, stream, consuming)
    consuming.cancel()
    matcher.hold.set()
    await service.drain(1)
    breaker.close()


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

    service.kafka_watch.reachable = False
    assert service.readiness() == (False, "Kafka broker unreachable")
    service.kafka_watch.reachable = True

    service.fatal = RuntimeError("bad key")
    assert service.readiness() == (False, "stopped on a fatal error")


async def test_records_of_a_revoked_partition_are_left_to_their_next_owner(rig: Rig) -> None:
    rig.matcher.hold.clear()
    rig.stream.send(1, partition=0)
    rig.stream.send(2, partition=1)
    pipeline = rig.service.pipelines[Lane.LIVE]
    await eventually(lambda: len(rig.matcher.calls) == 2, within=5, what="both in flight")
    assert pipeline.unacked == 2

    await rig.service.on_partitions_revoked({TP(UPLOADS, 0)})

    assert pipeline.unacked == 1
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
