"""The loop every downstream agent shares: ordered manual acks, idempotency, contained errors.

Shaped like a Quix Streams sink. A ``Sink`` says what one decoded item means (``ref`` and
``handle``, which also gets the record the item came from, for sinks whose effect depends on
where it sat); the ``DownstreamLoop`` owns everything around it:

- Records are read as raw bytes with manual acks and handled one at a time, so a record is acked
  only after the writes it caused are confirmed, and strictly in offset order.
- Bytes that are not a valid event, and items a sink refuses with a ``PermanentError``, become a
  DLQ record (a ``ScanError`` with the original bytes and a ``ReasonCode``) on
  ``downstream.errors``; the stream keeps flowing.
- Idempotency: an item whose id is in the ``SeenStore`` (a changelogged faust table) is acked
  without being handled again, so replays and duplicates act once, across restarts too.
- ``BackpressureError(retry_after)`` and other transient errors: the loop holds the record and
  hands the same item over again later. Nothing behind it is acked meanwhile: a delay.
- A ``ConfigurationError``, or any exception nobody planned for, stops the agent without acking
  the record (faust would otherwise ack it and restart the agent: a silent skip). The next
  process handles it again; an operator sees the crash.

Of Quix's setup / add / flush, setup is building the sink (``build_*`` in each agent module) and
teardown is ``DownstreamApp.on_close``; there is no flush, because every write is confirmed
before its record is acked.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from faust.types import StreamT

from streams.downstream.metrics import DownstreamMetrics
from streams.downstream.store import SeenStore
from streams.errors import (
    BackpressureError,
    ConfigurationError,
    EventDecodeError,
    PermanentError,
    ReasonCode,
    TransientError,
)
from streams.events import Event, ScanInfo, Verdict, VerdictKind
from streams.kafka.confirmed import ConfirmedWriter
from streams.kafka.record import (
    SourceRecord,
    dead_letter,
    manual_acks,
    source_record,
    taken_in_current_generation,
)
from streams.kafka.transactions import record_step
from streams.retry import RetryPolicy

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Event)

#: Waits before handing an item over again after a transient error that named no delay.
TRANSIENT_BACKOFF = RetryPolicy(base_s=1.0, cap_s=60.0)


@dataclass(frozen=True)
class ItemRef:
    """What the loop needs to know of an item: its id for idempotency (None: handled every
    time), and whom it concerns, for the DLQ record and the logs."""

    item_id: str | None
    content_id: str
    tenant: str
    event_id: str | None = None
    scan: ScanInfo = field(default_factory=ScanInfo)


class Sink(abc.ABC, Generic[T]):
    """What a downstream agent does with one item. ``handle`` writes through a ConfirmedWriter
    (confirmed writes) and raises as described in the module docstring."""

    #: The event model the agent's source topic carries.
    model: type[T]

    @abc.abstractmethod
    def ref(self, item: T) -> ItemRef: ...

    @abc.abstractmethod
    async def handle(self, item: T, source: SourceRecord) -> None: ...


class VerdictSink(Sink[Verdict]):
    """A sink of match verdicts: de-duplicated by ``verdict_id``; a clear verdict on the match
    topic is refused into the DLQ rather than acted upon."""

    model = Verdict

    def ref(self, item: Verdict) -> ItemRef:
        return ItemRef(item.verdict_id, item.content_id, item.tenant, item.event_id, item.scan)

    async def handle(self, item: Verdict, source: SourceRecord) -> None:
        if item.verdict is not VerdictKind.MATCH:
            raise PermanentError(
                f"a {item.verdict.value!r} verdict on the match topic",
                reason=ReasonCode.INVALID_EVENT,
            )
        await self.handle_match(item, source)

    @abc.abstractmethod
    async def handle_match(self, verdict: Verdict, source: SourceRecord) -> None: ...


class DownstreamLoop(Generic[T]):
    """Feeds one source topic's records to a sink; see the module docstring."""

    def __init__(
        self,
        name: str,
        sink: Sink[T],
        *,
        writer: ConfirmedWriter,
        dlq_topic: str,
        metrics: DownstreamMetrics,
        on_fatal: Callable[[BaseException], Awaitable[None]],
        seen: SeenStore | None = None,
        backoff: RetryPolicy = TRANSIENT_BACKOFF,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self.sink = sink
        self.seen = seen
        self.running = False
        self.fatal: BaseException | None = None
        self._writer = writer
        self._dlq_topic = dlq_topic
        self._metrics = metrics
        self._on_fatal = on_fatal
        self._backoff = backoff
        self._now = clock

    async def run(self, stream: StreamT[bytes]) -> None:
        self.running = True
        try:
            async for event in manual_acks(stream).events():
                # With Kafka transactions, no commit between a record's writes and its ack.
                async with record_step(stream.app) as step:
                    # A rebalance began while it waited for a commit: read again after it.
                    if not taken_in_current_generation(stream.app, event):
                        continue
                    if not await self.process(source_record(event)):
                        step.leave_unfinished()
                        return
                    # Handled across a rebalance: faust reads it again from the committed
                    # offset (the seen store skips it then); an ack now could commit past a gap.
                    if taken_in_current_generation(stream.app, event):
                        event.ack()
        finally:
            self.running = False

    async def process(self, record: SourceRecord) -> bool:
        """Handle one record completely; False means the agent must stop (record not done).

        Nothing may raise out of here: faust would ack the record and restart the agent, a
        silent skip. An error outside ``handle()`` (a table read or write, the DLQ write) stops
        the agent like an unplanned error inside it."""
        try:
            return await self._process(record)
        except Exception as exc:  # a bug or a broken table: stop rather than ack the record
            log.exception("%s: unexpected error around the record; stopping", self.name)
            await self._fail(exc, None)
            return False

    async def _process(self, record: SourceRecord) -> bool:
        try:
            item = self.sink.model.decode(record.value or b"")
        except EventDecodeError as exc:
            await self._dead_letter(record, exc, None)
            return True
        ref = self.sink.ref(item)
        if ref.item_id is not None and self.seen is not None and ref.item_id in self.seen:
            self._count("duplicate")
            return True
        waits = 0
        while True:
            try:
                await self.sink.handle(item, record)
                break
            except ConfigurationError as exc:
                await self._fail(exc, ref)
                return False
            except PermanentError as exc:
                await self._dead_letter(record, exc, ref)
                return True
            except TransientError as exc:
                await self._hold(exc, ref, waits)
                waits += 1
            except Exception as exc:  # a bug: stop rather than ack an item nobody handled
                log.exception("%s: unexpected error; stopping", self.name)
                await self._fail(exc, ref)
                return False
        # No await from the end of handle() to here: its table writes and this mark reach the
        # changelog together.
        if ref.item_id is not None and self.seen is not None:
            self.seen.add(ref.item_id)
        self._count("handled")
        return True

    async def _hold(self, exc: TransientError, ref: ItemRef, waits: int) -> None:
        if isinstance(exc, BackpressureError):
            delay = exc.retry_after
        else:
            delay = self._backoff.backoff(waits)
        log.warning(
            "%s: cannot handle the item now (%s); trying it again in %.1fs",
            self.name,
            exc,
            delay,
            extra={"content_id": ref.content_id, "tenant": ref.tenant},
        )
        self._metrics.held.labels(self.name).inc()
        await self._backoff.sleep(delay)

    async def _fail(self, exc: BaseException, ref: ItemRef | None) -> None:
        self.fatal = exc
        log.critical(
            "%s: stopping, acking nothing more: %s",
            self.name,
            exc,
            extra={} if ref is None else {"content_id": ref.content_id, "tenant": ref.tenant},
        )
        await self._on_fatal(exc)

    async def _dead_letter(
        self, record: SourceRecord, exc: PermanentError, ref: ItemRef | None
    ) -> None:
        now = self._now()
        error = dead_letter(
            record,
            exc.reason,
            str(exc),
            now=now,
            attempts=1,
            first_seen=record.received_at,
            event_id=ref.event_id if ref else None,
            content_id=ref.content_id if ref else None,
            tenant=ref.tenant if ref else None,
            scan=ref.scan if ref else None,
        )
        log.warning(
            "%s: record %s[%d]@%d refused into the DLQ: %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            error.reason.value,
        )
        await self._writer.write(self._dlq_topic, record.key, error.encode(), [])
        self._count("dead_lettered")

    def _count(self, result: str) -> None:
        self._metrics.records.labels(self.name, result).inc()
