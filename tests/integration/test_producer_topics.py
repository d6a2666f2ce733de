"""A record for a topic the producer learnt from an all-topics metadata fetch is confirmed even
when a send to a newer topic narrows the producer's metadata (see streams/kafka/producer_topics.py).

Without tracking, the first record below waits for a partition leader its producer no longer
knows: on the real broker it stays unconfirmed until its batch expires (40 s for aiokafka's
defaults, 20 minutes for faust's), which is how a rescan's status stayed one outcome short.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import faust
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.client import AIOKafkaClient

from hashgate_tools.harness.kafka import create_topics, unique
from streams.kafka.confirmed import FaustWriter, WindowedWriter

pytestmark = pytest.mark.integration

#: Far below the 40 s a stranded batch waits before it fails, far above a confirmation's time.
CONFIRMED_WITHIN_S = 20.0
#: Keeps the first record queued while the second send changes the producer's metadata.
LINGER_S = 0.3
#: A producer's stop waits for its queue; a stranded batch must not hold a failed test for long.
STOP_WITHIN_S = 10.0


async def _learn_all_topics(client: AIOKafkaClient, topic: str) -> None:
    """An all-topics metadata fetch that includes ``topic``, as faust runs after creating one
    (repeated until the new topic's metadata has reached the broker's answers)."""
    try:
        async with asyncio.timeout(30):
            while client.cluster.partitions_for_topic(topic) is None:
                await client.force_metadata_update()
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"{topic} not in the producer's metadata within 30 s") from None


async def _queue_known_then_new(
    bootstrap: str,
    client: AIOKafkaClient,
    queue: Callable[[str, str], Awaitable[None]],
    confirm: Callable[[], Awaitable[None]],
    known: str | None = None,
) -> None:
    """``queue(topic, which)`` queues a record ("known", then "new"); all confirmed in time."""
    known, new = known or unique("known"), unique("new")
    await create_topics(bootstrap, [known], partitions=1)
    await _learn_all_topics(client, known)
    await create_topics(bootstrap, [new], partitions=1)  # unknown to the producer so far

    await queue(known, "known")  # lingers in the producer's queue
    await queue(new, "new")  # the producer must look this topic up
    async with asyncio.timeout(CONFIRMED_WITHIN_S):
        await confirm()


async def _stop(stopping: Awaitable[None]) -> None:
    """A producer's stop flushes; after a failed test a stranded batch would hold it for long."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(STOP_WITHIN_S):
            await stopping


@pytest.fixture
async def aiokafka_producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=LINGER_S * 1000)
    await producer.start()
    yield producer
    await _stop(producer.stop())


async def test_the_cli_sender_confirms_a_record_queued_before_the_metadata_narrowed(
    kafka_bootstrap: str, aiokafka_producer: AIOKafkaProducer
) -> None:
    sender = WindowedWriter(aiokafka_producer)

    async def queue(topic: str, _: str) -> None:
        await sender.write(topic, None, b"record", [])

    await _queue_known_then_new(kafka_bootstrap, aiokafka_producer.client, queue, sender.flush)


@pytest.fixture
async def faust_app(kafka_bootstrap: str) -> AsyncIterator[faust.App]:
    app = faust.App(unique("writer"), broker=f"kafka://{kafka_bootstrap}", producer_linger=LINGER_S)
    producer = await app.maybe_start_producer()
    yield app
    await _stop(producer.stop())


class Publishing:
    """Records in flight through the app's producer, each confirmed by its own task."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.writer = FaustWriter(app)
        self.tasks: list[asyncio.Future[object]] = []

    @property
    def client(self) -> AIOKafkaClient:
        return self.app.producer._ensure_producer().client  # type: ignore[attr-defined]

    async def through_writer(self, topic: str, _: str = "") -> None:
        self.tasks.append(asyncio.ensure_future(self.writer.write(topic, None, b"r", [])))
        await asyncio.sleep(0)  # one loop step: publish queues its record, then awaits the ack

    async def through_faust(self, topic: str) -> None:
        """As a table's changelog write goes: faust's producer, not the FaustWriter."""
        producer = await self.app.maybe_start_producer()
        self.tasks.append(await producer.send(topic, None, b"r", None, None, None))

    async def confirmed(self) -> None:
        try:
            await asyncio.gather(*self.tasks)
        finally:
            for task in self.tasks:
                task.cancel()


async def test_the_workers_writer_confirms_a_record_queued_before_the_metadata_narrowed(
    kafka_bootstrap: str, faust_app: faust.App
) -> None:
    publishing = Publishing(faust_app)
    await _queue_known_then_new(
        kafka_bootstrap, publishing.client, publishing.through_writer, publishing.confirmed
    )


async def test_a_table_changelog_record_is_confirmed_when_the_writer_narrows_the_metadata(
    kafka_bootstrap: str, faust_app: faust.App
) -> None:
    table = faust_app.Table(unique("seen"), key_type=str, value_type=str)
    publishing = Publishing(faust_app)

    async def queue(topic: str, which: str) -> None:
        if which == "known":
            await publishing.through_faust(topic)
        else:
            await publishing.through_writer(topic)

    changelog = table.changelog_topic.get_topic_name()
    await _queue_known_then_new(
        kafka_bootstrap, publishing.client, queue, publishing.confirmed, known=changelog
    )
