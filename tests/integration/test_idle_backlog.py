"""Idle backlog partitions sit out most fetches on a real broker, and a record that reaches one
is still fetched while live records keep every fetch busy (streams/kafka/backlog.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from faust.types import TP

from hashgate_tools.harness.kafka import create_topics, unique
from streams.kafka.backlog import REVISIT_S, IdleBacklog
from streams.kafka.fetch_wait import FetchWait
from streams.kafka.internals import plan_fetches

pytestmark = pytest.mark.integration

#: Long enough that a backlog partition left out of fetches for good could not pass for one
#: revisited: a dozen revisits.
WITHIN_S = 12 * REVISIT_S
#: How long live records flow before the backlog partition's fetches are counted: four
#: revisits.
LIVE_S = 4 * REVISIT_S
#: Live records a second: every fetch comes back with some, as at the worker's half capacity.
LIVE_RATE = 200


async def produce_live(producer: AIOKafkaProducer, topic: str) -> None:
    """Live records at ``LIVE_RATE`` until cancelled."""
    while True:
        await producer.send(topic, b"upload")
        await asyncio.sleep(1 / LIVE_RATE)


async def consume_for(consumer: AIOKafkaConsumer, seconds: float) -> None:
    """Take whatever the consumer fetches for ``seconds``."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while loop.time() < until:
        await consumer.getmany(timeout_ms=100)


async def test_a_backlog_record_is_fetched_while_live_records_keep_fetches_busy(
    kafka_bootstrap: str,
) -> None:
    live, backlog = unique("idle-live"), unique("idle-backlog")
    await create_topics(kafka_bootstrap, [live, backlog], partitions=1)
    live_tp, backlog_tp = TopicPartition(live, 0), TopicPartition(backlog, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=0)
    asked: Counter[str] = Counter()
    idle = IdleBacklog({backlog})

    def count_asked(fetched: Iterable[tuple[TP, int]]) -> None:
        fetched = list(fetched)
        asked.update(tp.topic for tp, _offset in fetched)
        idle.asked(fetched)

    await consumer.start()
    await producer.start()
    feeding = asyncio.create_task(produce_live(producer, live))
    try:
        consumer.assign([live_tp, backlog_tp])
        wait = FetchWait()
        wait.reading([live_tp, backlog_tp])
        plan_fetches(consumer, wait_ms=wait.choose, sitting_out=idle.sitting_out, asked=count_asked)
        await consume_for(consumer, LIVE_S)
        assert asked[live] > 3 * asked[backlog] > 0, asked  # revisited, but rarely

        await producer.send_and_wait(backlog, b"rescan")
        async with asyncio.timeout(WITHIN_S):
            while not (await consumer.getmany(timeout_ms=100)).get(backlog_tp):
                pass
    finally:
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeding
        await producer.stop()
        await consumer.stop()
