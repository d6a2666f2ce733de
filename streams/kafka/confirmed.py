"""Writing a record and waiting for the broker: one protocol, its producers, one retry loop.

``ConfirmedWriter.write`` returns only once Kafka acknowledged the record, so a caller may ack
the input that caused it right after; a failed write raises, never passes silently.
``ConfirmedSender.send`` hands the record to the producer and returns the future of that
acknowledgement, so a caller can queue many records before it waits for any.

- ``FaustWriter``: through the faust app's own producer (the worker and the agents).
- ``RetryingWriter``: any ConfirmedWriter, retried with capped, jittered backoff for as long as
  it takes: the input stays unacked meanwhile, which is a delay, not a loss.
- ``CountingWriter``: any ConfirmedWriter, with a count of its confirmed records per topic.
- ``WindowedWriter``: the operator commands' bulk form on a plain idempotent producer, whose
  confirmation comes in windows and at ``flush``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from typing import Any, Protocol

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from faust.types import ProducerT

from streams.kafka.config import aiokafka_options, started
from streams.kafka.internals import producer_client
from streams.kafka.producer_topics import TrackedTopics
from streams.retry import RetryPolicy
from streams.settings import Settings

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]

#: What a failed Kafka round trip raises: the broker's errors, the network's, and a timeout.
KAFKA_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError)

#: Backoff between attempts of one write; only its delays are used (there is no last attempt).
WRITE_BACKOFF = RetryPolicy(base_s=0.1, cap_s=10.0)
#: Sends a WindowedWriter keeps in flight before it waits for the broker's acknowledgements.
SEND_WINDOW = 1000


class ConfirmedWriter(Protocol):
    """Writes one record and returns once the broker acknowledged it."""

    async def write(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers
    ) -> None: ...


class ConfirmedSender(ConfirmedWriter, Protocol):
    """A ConfirmedWriter that can also queue a record and wait for it later."""

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers
    ) -> asyncio.Future[object]:
        """Queue the record; the future resolves once the broker acknowledged it, or raises."""
        ...


class FaustWriter:
    """Writes through the app's producer and waits for the broker's acknowledgement.

    Straight to the producer, not through ``Topic.send``: the records are bytes already, and
    faust's per-record message futures, callbacks and sensor calls cost more CPU than the
    produce itself (seen in the benchmark's profile).

    ``writes`` (read when partitions are first assigned, so it may still grow until then) and
    the app's table changelogs are tracked in the producer's metadata before the agents get a
    record: see streams/kafka/producer_topics.py for the aiokafka gap this closes.
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
        """The aiokafka client under faust's producer, started if need be (with exactly-once
        processing, ``maybe_start_producer`` hands out the transaction manager instead, whose
        producers track their topics themselves: streams/kafka/transactions.py)."""
        producer = self._app.producer
        await producer.maybe_start()
        return producer_client(producer)

    async def _track_all(self) -> TrackedTopics:
        if self._tracked is None:
            self._tracked = TrackedTopics(await self.kafka_client())
            tables = self._app.tables.values()
            changelogs = {table.changelog_topic.get_topic_name() for table in tables}
            for topic in sorted({*self._writes, *changelogs}):
                self._tracked.track(topic)
        return self._tracked

    async def write(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        await (await self.send(topic, key, value, headers))

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers
    ) -> asyncio.Future[object]:
        tracked = self._tracked or await self._track_all()
        tracked.track(topic)  # a topic nobody declared: tracked before its first record
        producer = self._running_sender()
        if producer is None:
            producer = await self._app.maybe_start_producer()
        # No headers as None, not []: faust tests a list of them against typing's Mapping on
        # every send, and the records go out the same either way.
        pending = await producer.send(
            topic, key, value, partition=None, timestamp=None, headers=headers or None
        )
        return asyncio.ensure_future(pending)

    def _running_sender(self) -> ProducerT | None:
        """What ``app.maybe_start_producer`` hands out once it runs, None before: without its
        stampede guard's three event-loop turns on every call (six a verdict) or a coroutine of
        its own (docs/benchmarks.md)."""
        app = self._app
        if app.in_transaction:
            return app.consumer.transactions
        return app.producer if app.producer.started else None


class RetryingWriter:
    """A ConfirmedWriter whose writes are retried until the broker confirms them."""

    def __init__(self, writer: ConfirmedWriter, backoff: RetryPolicy = WRITE_BACKOFF) -> None:
        self._writer = writer
        self._backoff = backoff

    async def write(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        failures = 0
        while True:
            try:
                await self._writer.write(topic, key, value, headers)
                return
            except KAFKA_ERRORS as exc:
                delay = await self._backoff.wait(failures)
                log.warning("writing to %s failed (%r); retried after %.1fs", topic, exc, delay)
            failures += 1


class CountingWriter:
    """A ConfirmedWriter that calls ``count(topic)`` once the broker confirmed a record."""

    def __init__(self, writer: ConfirmedWriter, count: Callable[[str], None]) -> None:
        self._writer = writer
        self._count = count

    async def write(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        await self._writer.write(topic, key, value, headers)
        self._count(topic)


class WindowedWriter:
    """Sends through an idempotent producer and waits for the broker in windows.

    ``flush`` returns only when every record sent so far is acknowledged, so a caller can write
    "all published" only after it; a failed send raises there, never silently.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._tracked = TrackedTopics(producer.client)
        self._pending: list[asyncio.Future[Any]] = []

    async def write(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        """Queue one record (None: a tombstone); confirmed by the next ``flush`` (or window)."""
        self._tracked.track(topic)
        future = await self._producer.send(topic, key=key, value=value, headers=headers)
        self._pending.append(future)
        if len(self._pending) >= SEND_WINDOW:
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            await future


@asynccontextmanager
async def windowed_writer(settings: Settings) -> AsyncIterator[WindowedWriter]:
    """A WindowedWriter on its own producer; everything written is confirmed on a clean exit."""
    producer = AIOKafkaProducer(
        **aiokafka_options(settings.kafka), acks="all", enable_idempotence=True, linger_ms=20
    )
    await started(producer)
    try:
        writer = WindowedWriter(producer)
        yield writer
        await writer.flush()
    finally:
        await producer.stop()
