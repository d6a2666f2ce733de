"""Puts the scan lanes onto a faust app: agents, topics, outage pausing, drain and health.

Three agents read raw bytes with manual acks: the live lane (``content.uploads``), the rescan
lane (``content.rescans``) and the delayed-retry topic, whose records go back to the lane they
came from once their delay is over. Each lane has its own ``ScanPipeline``, so a large rescan
can never take the in-flight slots that live uploads need; the rate limiter gives live calls
priority for PhotoDNA quota.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import faust
from aiokafka.client import AIOKafkaClient
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import Producer as FaustKafkaProducer
from faust.types import TP, EventT, Message, StreamT

from streams.broker_watch import BrokerWatch
from streams.errors import ConfigurationError
from streams.observability.metrics import BREAKER_STATE_VALUES, ScanMetrics
from streams.photodna import BreakerState, Lane, PhotoDNAMatcher
from streams.producer_topics import TrackedTopics
from streams.rescan.latest import ChangeFilter, LatestVerdicts
from streams.scan.outputs import LANE_HEADER, OutcomeWriter
from streams.scan.pipeline import DrainReport, ScanPipeline
from streams.scan.quota_share import upload_share
from streams.scan.record import NOT_BEFORE_HEADER, SourceRecord
from streams.scan.scanner import (
    DeadLetterOutcome,
    Outcome,
    RetryOutcome,
    Scanner,
    VerdictOutcome,
)
from streams.settings import Settings
from streams.topics import worker_topics

log = logging.getLogger(__name__)

#: How many records may wait behind an unfinished one per lane, as a multiple of in-flight.
UNACKED_PER_SLOT = 16
#: Records a lane works on per PhotoDNA call slot: a record frees its call slot as soon as
#: PhotoDNA answered, so the next call starts while the outcome is still being written.
RECORDS_PER_CALL_SLOT = 2


class FaustPublisher:
    """Publishes through the app's producer and waits for the broker's acknowledgement.

    Straight to the producer, not through ``Topic.send``: the records are bytes already, and
    faust's per-record message futures, callbacks and sensor calls cost more CPU than the
    produce itself (seen in the benchmark's profile).

    ``writes`` (read when partitions are first assigned, so it may still grow until then) and
    the app's table changelogs are tracked in the producer's metadata before the agents get a
    record: see streams/producer_topics.py for the aiokafka gap this closes.
    """

    def __init__(self, app: faust.App, writes: Collection[str] = ()) -> None:
        self._app = app
        self._writes = writes
        self._tracked: TrackedTopics | None = None
        app.on_partitions_assigned.connect(self._before_first_record)

    async def _before_first_record(self, sender: Any, /, *args: Any, **_: Any) -> None:
        """faust hands agents no record before it assigned partitions, and sends this first."""
        await self._track_all()

    async def kafka_client(self) -> AIOKafkaClient:
        """The aiokafka client under faust's producer, started if need be."""
        producer = await self._app.maybe_start_producer()
        # faust has no public accessor for its aiokafka producer (its aiokafka driver's own)
        return cast(FaustKafkaProducer, producer)._ensure_producer().client

    async def _track_all(self) -> TrackedTopics:
        if self._tracked is None:
            self._tracked = TrackedTopics(await self.kafka_client())
            tables = self._app.tables.values()
            changelogs = {table.changelog_topic.get_topic_name() for table in tables}
            for topic in sorted({*self._writes, *changelogs}):
                self._tracked.track(topic)
        return self._tracked

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        tracked = self._tracked or await self._track_all()
        tracked.track(topic)  # a topic nobody declared: tracked before its first record
        producer = await self._app.maybe_start_producer()
        pending = await producer.send(
            topic, key, value, partition=None, timestamp=None, headers=headers
        )
        await pending


def source_record(event: EventT[bytes]) -> SourceRecord:
    message = event.message
    return SourceRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=_headers(message),
        received_at=datetime.now(UTC),
    )


def _headers(message: Message) -> tuple[tuple[str, bytes], ...]:
    headers = message.headers or ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((k, v if isinstance(v, bytes) else str(v).encode()) for k, v in pairs)


class ScanService:
    """The scan worker's runtime state: one pipeline per lane, sharing one matcher."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        matcher: PhotoDNAMatcher,
        metrics: ScanMetrics,
        *,
        publisher: FaustPublisher | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.matcher = matcher
        self.metrics = metrics
        self.publisher = publisher or FaustPublisher(app, writes=worker_topics(settings))
        self.fatal: BaseException | None = None
        self.assigned = False
        self.kafka_watch = BrokerWatch(self.publisher.kafka_client)
        self._crash: asyncio.Task[None] | None = None
        self.consuming = False
        if matcher.breaker is None:
            raise ConfigurationError("the scan worker needs a matcher with a circuit breaker")
        self.breaker = matcher.breaker
        scan = settings.scan
        self.latest = LatestVerdicts(settings)
        changes = ChangeFilter(self.latest.last)
        self.pipelines: dict[Lane, ScanPipeline] = {}
        for lane in Lane:
            scanner = Scanner(
                matcher,
                matcher.breaker,
                lane=lane,
                enhanced=settings.photodna.enhance,
                retry_limit=scan.event_retry_limit,
                retry_delay_s=scan.event_retry_delay_s,
                replay_limit=scan.dlq_replay_limit,
            )
            writer = OutcomeWriter(
                self.publisher,
                settings.topics,
                lane=lane.value,
                on_written=self._count(lane),
            )
            self.pipelines[lane] = ScanPipeline(
                self._handler(scanner, changes, writer, asyncio.Semaphore(scan.max_in_flight)),
                max_in_flight=scan.max_in_flight * RECORDS_PER_CALL_SLOT,
                max_unacked=scan.max_in_flight * UNACKED_PER_SLOT,
                on_fatal=self._on_fatal,
                name=lane.value,
            )
        for lane, pipeline in self.pipelines.items():
            metrics.in_flight.labels(lane.value).set_function(partial(_in_flight, pipeline))
            metrics.unacked.labels(lane.value).set_function(partial(_unacked, pipeline))
        self.source_topics = {
            settings.topics.uploads,
            settings.topics.rescans,
            settings.topics.retries,
        }
        # Open while PhotoDNA answers: the agents take no new record while it is clear.
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.breaker.add_listener(self._on_breaker_change)

    # -- the agents' loops -------------------------------------------------------------

    async def consume(self, stream: StreamT[bytes], lane: Lane) -> None:
        self.consuming = True
        pipeline = self.pipelines[lane]
        async for event in _manual_acks(stream).events():
            await self._flowing.wait()
            self.metrics.events_in.labels(lane.value).inc()
            if not await pipeline.submit(source_record(event), event.ack):
                break

    async def consume_retries(self, stream: StreamT[bytes]) -> None:
        async for event in _manual_acks(stream).events():
            record = source_record(event)
            await _sleep_until(record.time_header(NOT_BEFORE_HEADER))
            lane = Lane((record.header(LANE_HEADER) or b"live").decode())
            await self._flowing.wait()
            if not await self.pipelines[lane].submit(record, event.ack):
                break

    @staticmethod
    def _handler(
        scanner: Scanner, changes: ChangeFilter, writer: OutcomeWriter, calls: asyncio.Semaphore
    ) -> Callable[[SourceRecord], Any]:
        async def handle(record: SourceRecord) -> None:
            async with calls:  # max_in_flight bounds PhotoDNA calls, not Kafka writes
                outcome = await scanner.scan(record)
            await writer.write(await changes.screen(outcome))

        return handle

    def _count(self, lane: Lane) -> Callable[[Outcome], None]:
        m, name = self.metrics, lane.value

        def count(outcome: Outcome) -> None:
            match outcome:
                case VerdictOutcome(verdict=verdict):
                    m.verdicts.labels(verdict.verdict.value, name).inc()
                    m.api_latency.labels(name).observe(verdict.timings.api_ms / 1000)
                case RetryOutcome():
                    m.event_retries.labels(name).inc()
                case DeadLetterOutcome(error=error):
                    m.dlq.labels(error.reason.value, name).inc()

        return count

    # -- outage, failure, rebalance and shutdown ---------------------------------------

    def _source_partitions(self) -> set[TP]:
        return {tp for tp in self.app.consumer.assignment() if tp.topic in self.source_topics}

    def _on_breaker_change(self, state: BreakerState) -> None:
        """Stop taking records while PhotoDNA is down; take them again once it answers.

        Not faust's pause_partitions: in faust-streaming 0.15 it drops the rest of an already
        fetched batch of a paused partition, and a later ack commits past those records. Here
        the agents simply wait; once their buffers fill, faust stops fetching (a path that
        keeps every record).
        """
        self.metrics.breaker_state.set(BREAKER_STATE_VALUES[state.value])
        if state is BreakerState.OPEN and self._flowing.is_set():
            log.warning("PhotoDNA unavailable: taking no new records until it answers")
            self._flowing.clear()
        elif state is BreakerState.CLOSED and not self._flowing.is_set():
            log.warning("PhotoDNA answering again: taking records again")
            self._flowing.set()

    async def _on_fatal(self, exc: BaseException) -> None:
        if self.fatal is not None:
            return
        self.fatal = exc
        kind = "configuration error" if isinstance(exc, ConfigurationError) else "fatal error"
        log.critical("stopping the worker on a %s, acking nothing more: %s", kind, exc)
        for pipeline in self.pipelines.values():
            pipeline.stop_taking()
        # Crash from a task of its own: this coroutine runs inside a pipeline task, which the
        # shutdown will cancel.
        self._crash = asyncio.get_running_loop().create_task(self.app.crash(exc))

    def on_partitions_assigned(self, assigned: set[TP]) -> None:
        """Take this worker's share of the key's quota: see streams/scan/quota_share.py."""
        self.assigned = True
        limiter = self.matcher.rate_limiter
        if limiter is None:
            return
        uploads = self.settings.topics.uploads
        partitions = self.app.consumer.topic_partitions(uploads) or self.settings.topics.partitions
        share = upload_share(assigned, uploads, partitions)
        limiter.set_share(share)
        log.info(
            "quota share %.3f of %g calls/s: %.2f calls/s for this worker's upload partitions",
            share,
            limiter.key_rate,
            limiter.configured_rate,
        )

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        dropped = sum(
            p.forget_partitions({(tp.topic, tp.partition) for tp in revoked})
            for p in self.pipelines.values()
        )
        if dropped:
            log.info("partitions revoked: %d unacked records left to their next owner", dropped)

    async def drain(self, grace_s: float) -> DrainReport:
        """SIGTERM: stop taking records, finish what runs within the grace period."""
        self.consuming = False
        reports = await asyncio.gather(*(p.drain(grace_s) for p in self.pipelines.values()))
        await self.latest.aclose()
        report = DrainReport(
            finished=sum(r.finished for r in reports), abandoned=sum(r.abandoned for r in reports)
        )
        log.warning(
            "drained: %d in-flight scans finished, %d abandoned (left unacked)",
            report.finished,
            report.abandoned,
        )
        return report

    # -- health ------------------------------------------------------------------------

    def readiness(self) -> tuple[bool, str]:
        if self.fatal is not None:
            return False, "stopped on a fatal error"
        if not self.kafka_watch.reachable:
            return False, "Kafka broker unreachable"
        if not (self.consuming and self.assigned):
            return False, "not consuming yet (waiting for the consumer group)"
        if self.breaker.state is BreakerState.OPEN:
            return False, "PhotoDNA circuit breaker is open"
        return True, "consuming"

    def lag(self) -> dict[tuple[str, int], int]:
        consumer = cast(Consumer, self.app.consumer)
        lags: dict[tuple[str, int], int] = {}
        for tp in self._source_partitions():
            highwater = consumer.highwater(tp)
            committed = consumer._committed_offset.get(tp)  # no public accessor
            if highwater is not None:
                lags[(tp.topic, tp.partition)] = max(highwater - (committed or 0), 0)
        return lags


def _in_flight(pipeline: ScanPipeline) -> float:
    return pipeline.in_flight


def _unacked(pipeline: ScanPipeline) -> float:
    return pipeline.unacked


def _manual_acks(stream: StreamT[bytes]) -> StreamT[bytes]:
    """The same stream, but events are acked by the pipeline, in offset order."""
    return cast(faust.Stream[bytes], stream).noack()


async def _sleep_until(when: datetime | None) -> None:
    if when is not None:
        delay = (when - datetime.now(UTC)).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
