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
import time
from datetime import UTC, datetime
from functools import partial

import faust
from faust.types import TP, StreamT

from streams.errors import ConfigurationError
from streams.events.topics import SCAN_WORKER, topics_of
from streams.kafka.app import assigned, partition_count
from streams.kafka.broker_watch import BrokerWatch
from streams.kafka.confirmed import KAFKA_ERRORS, FaustWriter
from streams.kafka.internals import consumer_lag
from streams.kafka.latest_table import LatestVerdictTable
from streams.kafka.record import (
    NOT_BEFORE_HEADER,
    manual_acks,
    source_record,
    taken_in_current_generation,
)
from streams.observability.metrics import BREAKER_STATE_VALUES, ScanMetrics
from streams.photodna import BreakerState, CircuitBreaker, Lane, Matcher, RateLimiter
from streams.scan.call_slots import CallSlots
from streams.scan.changes import ChangeFilter, LatestRecording, LatestVerdicts
from streams.scan.lane import OutcomeCounter, ScanLane
from streams.scan.outputs import LANE_HEADER, OutcomeRouter
from streams.scan.pipeline import DrainReport, ScanPipeline
from streams.scan.quota_share import upload_share
from streams.scan.rescan_yield import RescanYield
from streams.scan.scanner import Outcome, Scanner
from streams.settings import Settings

log = logging.getLogger(__name__)

#: How many records may wait behind an unfinished one per lane, as a multiple of in-flight.
UNACKED_PER_SLOT = 16
#: Records a lane works on per PhotoDNA call slot: a record frees its call slot as soon as
#: PhotoDNA answered, so the next call starts while the outcome is still being written.
RECORDS_PER_CALL_SLOT = 2


class ScanService:
    """The scan worker's runtime state: one pipeline per lane, sharing one matcher."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        matcher: Matcher,
        breaker: CircuitBreaker,
        metrics: ScanMetrics,
        *,  # pragma: no mutate (callers pass these by name)
        quota: RateLimiter | None = None,
        writer: FaustWriter | None = None,
        latest: LatestVerdictTable | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.quota = quota
        self.metrics = metrics
        self.writer = writer or FaustWriter(app, writes=topics_of(settings.topics, SCAN_WORKER))
        self.fatal: BaseException | None = None
        self.assigned = False
        self.kafka_watch = BrokerWatch(self.writer.kafka_client)
        self._crash: asyncio.Task[None] | None = None
        self.consuming = False
        self.breaker = breaker
        scan = settings.scan
        self.latest = latest or LatestVerdictTable(app, settings)
        changes = ChangeFilter(LatestVerdicts(self.latest).last)
        recording = LatestRecording(self.writer, self.latest)
        self.pipelines: dict[Lane, ScanPipeline[Outcome]] = {}
        slots = {lane: CallSlots(scan.max_in_flight) for lane in Lane}
        self.rescan_yield = RescanYield(
            slots[Lane.RESCAN], ceiling=scan.max_in_flight, target_ms=scan.live_delay_target_ms
        )
        for lane in Lane:
            scanner = Scanner(
                matcher,
                breaker,
                lane=lane,
                enhanced=settings.photodna.enhance,
                retry_limit=scan.event_retry_limit,
                retry_delay_s=scan.event_retry_delay_s,
                replay_limit=scan.dlq_replay_limit,
            )
            router = OutcomeRouter(
                recording,
                settings.topics,
                lane=lane.value,
                on_written=OutcomeCounter(metrics, lane.value),
            )
            self.pipelines[lane] = ScanLane(scanner, changes, router, slots[lane]).pipeline(
                max_in_flight=scan.max_in_flight * RECORDS_PER_CALL_SLOT,
                max_unacked=scan.max_in_flight * UNACKED_PER_SLOT,
                name=lane.value,
            )
        metrics.state_replayed.set_function(lambda: self.latest.replayed)
        metrics.rescan_call_slots.set_function(lambda: slots[Lane.RESCAN].limit)
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
        taken = self.metrics.events_in.labels(lane.value)
        live = lane is Lane.LIVE
        async for event in manual_acks(stream).events():
            if live:
                self.rescan_yield.live_delay((time.time() - event.message.timestamp) * 1000)
            await self._flowing.wait()
            taken.inc()
            current = partial(taken_in_current_generation, self.app, event)
            if not await pipeline.submit(source_record(event), event.ack, current):
                break

    async def consume_retries(self, stream: StreamT[bytes]) -> None:
        async for event in manual_acks(stream).events():
            record = source_record(event)
            await _sleep_until(record.time_header(NOT_BEFORE_HEADER))
            lane = Lane((record.header(LANE_HEADER) or b"live").decode())
            await self._flowing.wait()
            current = partial(taken_in_current_generation, self.app, event)
            if not await self.pipelines[lane].submit(record, event.ack, current):
                break

    async def yield_to_live(self) -> None:
        """Every ``rescan_yield.PERIOD_S``: size the rescan lane from live records' delays."""
        self.rescan_yield.adjust()

    # -- outage, failure, rebalance and shutdown ---------------------------------------

    def _source_partitions(self) -> set[TP]:
        return assigned(self.app, self.source_topics)

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

    async def stop_on_failure(self) -> None:
        """Stop the worker, acking nothing more, once any lane's pipeline met a fatal error."""
        waits = [asyncio.ensure_future(p.wait_failed()) for p in self.pipelines.values()]
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        exc = next(iter(done)).result()
        self.fatal = exc
        kind = "configuration error" if isinstance(exc, ConfigurationError) else "fatal error"
        log.critical("stopping the worker on a %s, acking nothing more: %s", kind, exc)
        for pipeline in self.pipelines.values():
            pipeline.stop_taking()
        # Crash from a task of its own: this coroutine runs as an app task, which the shutdown
        # will cancel.
        self._crash = asyncio.get_running_loop().create_task(self.app.crash(exc))

    def on_partitions_assigned(self, assigned: set[TP]) -> None:
        """Take this worker's share of the key's quota: see streams/scan/quota_share.py."""
        self.assigned = True
        limiter = self.quota
        if limiter is None:
            return
        uploads = self.settings.topics.uploads
        partitions = partition_count(self.app, uploads) or self.settings.topics.partitions
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
        await self.checkpoint()
        report = DrainReport(
            finished=sum(r.finished for r in reports), abandoned=sum(r.abandoned for r in reports)
        )
        log.warning(
            "drained: %d in-flight scans finished, %d abandoned (left unacked)",
            report.finished,
            report.abandoned,
        )
        return report

    async def checkpoint(self) -> None:
        """Record how far the latest-verdict table is up to date (a restart reads only past it)."""
        try:
            await self.latest.checkpoint()
        except KAFKA_ERRORS as exc:
            log.warning("latest-verdict table not checkpointed this time: %r", exc)

    # -- health ------------------------------------------------------------------------

    def readiness(self) -> tuple[bool, str]:
        if self.fatal is not None:
            return False, "stopped on a fatal error"
        if not self.kafka_watch.reachable:
            return False, "Kafka broker unreachable"
        if not (self.consuming and self.assigned):
            return False, "not consuming yet (waiting for the consumer group)"
        if self.latest.restoring:
            return False, "restoring the latest-verdict table from its changelog"
        if self.breaker.state is BreakerState.OPEN:
            return False, "PhotoDNA circuit breaker is open"
        return True, "consuming"

    def lag(self) -> dict[tuple[str, int], int]:
        return consumer_lag(self.app, self._source_partitions())


def _in_flight(pipeline: ScanPipeline[Outcome]) -> float:
    return pipeline.in_flight


def _unacked(pipeline: ScanPipeline[Outcome]) -> float:
    return pipeline.unacked


async def _sleep_until(when: datetime | None) -> None:
    if when is not None:
        delay = (when - datetime.now(UTC)).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
