"""Bounded reads: a fixed span of each partition, read to its end.

Every read is a fixed span per partition: from a start offset (the beginning, or the first
record at or after a time) to the end offset captured when the command began. A command
therefore never chases its own output (a replayed record that fails again lands in the DLQ it
is reading) and always terminates, however busy the topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.errors import ConfigurationError
from streams.kafka.config import aiokafka_options, started
from streams.settings import KafkaSettings, Settings

#: Records per fetch; small enough to keep memory flat, large enough to read fast.
FETCH_RECORDS = 2000


@dataclass(frozen=True, slots=True)
class Span:
    """Offsets ``[start, end)`` of one partition."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return max(self.end - self.start, 0)

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


async def partitions_of(settings: Settings, topic: str) -> list[int]:
    """The topic's partition ids; asks for all topics' metadata so nothing gets auto-created."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings.kafka))
    await admin.start()
    try:
        described = await admin.describe_topics(None)
    finally:
        await admin.close()
    for entry in described:
        if entry["topic"] == topic:
            return sorted(p["partition"] for p in entry["partitions"])
    raise ConfigurationError(f"topic {topic!r} does not exist")


#: What the span functions read with: a consumer without a group (``reader``, ``span_consumer``).
Reader: TypeAlias = AIOKafkaConsumer


def span_consumer(kafka: KafkaSettings) -> AIOKafkaConsumer:
    """A consumer without a group (not started): it commits nothing and is assigned spans.

    It reads committed records only: what the agents write in Kafka transactions (moderation
    and stats) counts once its transaction committed, and an aborted one never."""
    return AIOKafkaConsumer(
        **aiokafka_options(kafka),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=FETCH_RECORDS,
        isolation_level="read_committed",
    )


@asynccontextmanager
async def reader(settings: Settings) -> AsyncIterator[AIOKafkaConsumer]:
    """A started ``span_consumer``, stopped on exit."""
    consumer = span_consumer(settings.kafka)
    await started(consumer)
    try:
        yield consumer
    finally:
        await consumer.stop()


def _millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)


async def plan_spans(
    consumer: AIOKafkaConsumer,
    topic: str,
    partitions: list[int],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Span]:
    """Per partition: from ``since`` (or the beginning) to ``until`` (or the end right now)."""
    tps = [TopicPartition(topic, p) for p in partitions]
    ends = await consumer.end_offsets(tps)
    starts = await consumer.beginning_offsets(tps)
    if since is not None:
        found = await consumer.offsets_for_times({tp: _millis(since) for tp in tps})
        starts = {tp: ends[tp] if hit is None else hit.offset for tp, hit in found.items()}
    if until is not None:
        found = await consumer.offsets_for_times({tp: _millis(until) for tp in tps})
        ends = {
            tp: ends[tp] if hit is None else min(hit.offset, ends[tp]) for tp, hit in found.items()
        }
    return [Span(topic, tp.partition, starts[tp], ends[tp]) for tp in tps]


async def read_spans(
    consumer: AIOKafkaConsumer, spans: list[Span]
) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
    """Every record of ``spans``, in batches; in offset order within each partition."""
    open_spans = {span.tp: span for span in spans if span.size > 0}
    if not open_spans:
        return
    consumer.assign(list(open_spans))
    for tp, opened in open_spans.items():
        consumer.seek(tp, opened.start)
    while open_spans:
        batches = await consumer.getmany(*open_spans, timeout_ms=500)
        for tp, records in batches.items():
            span = open_spans.get(tp)
            if span is not None:
                yield [r for r in records if r.offset < span.end]
        for tp in list(open_spans):
            if await consumer.position(tp) >= open_spans[tp].end:
                consumer.pause(tp)
                del open_spans[tp]


async def read_to_end(
    kafka: KafkaSettings, topics: list[str], *, within_s: float
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topics`` up to their end offsets at the time of the call, in order per
    partition; topics that do not exist yet read as empty."""
    partitions = await existing_partitions(kafka, topics)
    if not partitions:
        return []
    consumer = span_consumer(kafka)
    await started(consumer)
    try:
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        spans = [Span(tp.topic, tp.partition, starts[tp], ends[tp]) for tp in partitions]
        records: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(within_s):
            async for batch in read_spans(consumer, spans):
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def existing_partitions(kafka: KafkaSettings, topics: list[str]) -> list[TopicPartition]:
    """The partitions of those ``topics`` that exist (asking for others could create them)."""
    admin = AIOKafkaAdminClient(**aiokafka_options(kafka))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [topic for topic in topics if topic in existing]
        described = await admin.describe_topics(wanted) if wanted else []
    finally:
        await admin.close()
    return sorted(
        TopicPartition(entry["topic"], partition["partition"])
        for entry in described
        for partition in entry["partitions"]
    )


async def ends_now(consumer: Reader, settings: Settings, topics: list[str]) -> list[Span]:
    """Every partition of ``topics`` as the empty span at its end offset now: where ``follow``
    starts to see only what is written from here on."""
    spans = []
    for topic in topics:
        for span in await plan_spans(consumer, topic, await partitions_of(settings, topic)):
            spans.append(Span(topic, span.partition, span.end, span.end))
    return spans


async def follow(
    consumer: Reader, starts: list[Span]
) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
    """Records written after each span's end, in batches as they arrive; it never ends by
    itself, so callers bound it with a timeout."""
    consumer.assign([span.tp for span in starts])
    for span in starts:
        consumer.seek(span.tp, span.end)
    while True:
        batches = await consumer.getmany(timeout_ms=500)
        for records in batches.values():
            yield records
