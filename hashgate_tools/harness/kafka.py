"""Small async helpers for integration tests that talk to the real broker with aiokafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 4) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names]
        )
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, records: Iterable[Record]) -> int:
    # idempotent: a retry on a loaded machine must not add a duplicate the test then blames on
    # hashgate (a kill -9 test counts every record its agents write)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, enable_idempotence=True
    )
    await producer.start()
    count = 0
    try:
        futures = [
            await producer.send(topic, key=r.key, value=r.value, headers=list(r.headers))
            for r in records
        ]
        for fut in futures:
            await fut
            count += 1
    finally:
        await producer.stop()
    return count


async def consume(
    bootstrap: str,
    topics: list[str],
    *,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout_s: float,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read from the start of ``topics`` until ``until(records)`` holds; fail after a timeout."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(timeout_s):
            while not until(records):
                batch = await consumer.getmany(timeout_ms=200)
                for part in batch.values():
                    records.extend(part)
    except TimeoutError:
        raise AssertionError(
            f"condition not met within {timeout_s}s; read {len(records)} records from {topics}"
        ) from None
    finally:
        await consumer.stop()
    return records


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def wait_committed(
    bootstrap: str,
    group: str,
    topic: str,
    until: Callable[[dict[int, int]], bool],
    *,
    what: str,
    within_s: float = 30,
) -> dict[int, int]:
    """The group's committed offsets of ``topic`` once ``until`` holds for them; fails the test
    with ``what`` if it does not within the limit (a worker commits once a second, and a
    restarted broker answers with none while it loads its offsets partition)."""
    committed: dict[int, int] = {}
    try:
        async with asyncio.timeout(within_s):
            while not until(committed):
                await asyncio.sleep(0.1)
                committed = await committed_offsets(bootstrap, group, topic)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {within_s}s (committed: {committed})") from None
    return committed


async def end_offsets(bootstrap: str, topics: list[str]) -> int:
    """Records ever written to ``topics`` (sum of end offsets over all partitions)."""
    return sum((await end_offsets_by_partition(bootstrap, topics)).values())


async def end_offsets_by_partition(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in (consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
        ]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()
