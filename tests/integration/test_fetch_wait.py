"""The long fetch wait costs no latency on a real broker: a fetch that asks for every partition
the consumer reads ends as soon as one of them has a record (streams/kafka/fetch_wait.py)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from hashgate_tools.harness.kafka import create_topics, unique
from streams.kafka.fetch_wait import FetchWait
from streams.kafka.internals import plan_fetches

pytestmark = pytest.mark.integration

#: Far longer than a record's way through a loopback broker, so a fetch that waited it out
#: cannot pass for one that ended on the record.
LONG_WAIT_MS = 8000
#: Time for the consumer's first fetches to settle into a long wait on the empty partitions.
IDLE_S = 1.5


async def test_a_record_ends_a_long_fetch_of_every_partition_read(kafka_bootstrap: str) -> None:
    topic = unique("fetch-wait")
    await create_topics(kafka_bootstrap, [topic], partitions=2)
    partitions = [TopicPartition(topic, p) for p in range(2)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        consumer.assign(partitions)
        wait = FetchWait(short_ms=10, long_ms=LONG_WAIT_MS)
        wait.reading(partitions)
        plan_fetches(
            consumer,
            wait_ms=wait.choose,
            sitting_out=lambda assigned, position: (),
            asked=lambda fetched: None,
        )
        assert await consumer.getmany(timeout_ms=IDLE_S * 1000) == {}
        assert consumer._fetcher._fetch_max_wait_ms == LONG_WAIT_MS  # the fetch in flight's

        sent = time.monotonic()
        await producer.send_and_wait(topic, b"upload", partition=1)
        async with asyncio.timeout(LONG_WAIT_MS / 1000):
            record = await consumer.getone()
        took = time.monotonic() - sent
        assert (record.partition, record.value) == (1, b"upload")
        assert took < LONG_WAIT_MS / 1000 / 2, f"the record waited out the fetch: {took:.1f} s"
    finally:
        await producer.stop()
        await consumer.stop()
