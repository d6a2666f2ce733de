"""hashgate's faust transport driver: faust's aiokafka driver with the topic-wide buffering
consumer (streams/kafka/buffering.py), stream partitions resumed only after their seek
(streams/kafka/seek_first.py), a fetch wait that is short only when it has to be
(streams/kafka/fetch_wait.py), polls that hand out backlog topics' records last and fetches
that leave idle backlog partitions out (streams/kafka/backlog.py), records handed to their
agents' queues without a task each (streams/kafka/direct_delivery.py), and Kafka transactions
per source partition when exactly-once processing is on (streams/kafka/transactions.py).

faust picks a transport by the scheme of its broker URL, from its ``faust.transports`` entry
points; pyproject.toml registers this one for ``hashgate-kafka://``, and
``streams.kafka.config.faust_broker_urls`` writes that scheme. So the consumer is customised
through faust's own extension point, never by assigning a class attribute on a live app.

Why the fetch wait: aiokafka keeps one fetch in flight per broker, and a fetch leaves out the
partitions whose records are still buffered. Once the live lane drained its partitions, their
next fetch waits behind one for the idle topics (rescans, retries), which the broker holds
for ``fetch_max_wait_ms``; faust's driver hard-codes 1500 ms, so a live upload could wait up
to 1.5 s for its fetch (the tail of benchmark (e)). Such a fetch now waits 10 ms, and one that
asks for every partition faust reads, which ends as soon as any of them has a record, waits
500 ms: an idle worker sends two fetches a second, not a hundred (fetch_wait.py).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import aiokafka
from faust.streams import current_event
from faust.transport.consumer import RecordMap
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Producer as AIOKafkaProducer
from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport
from faust.types import TP
from faust.types.tuples import FutureMessage

from streams.kafka.backlog import IdleBacklog, backlog_topics
from streams.kafka.buffering import TopicWideBufferingConsumer
from streams.kafka.direct_delivery import DirectDeliveryConsumer
from streams.kafka.fetch_wait import SHORT_WAIT_MS, FetchWait
from streams.kafka.internals import fetched_last, plan_fetches, set_fetch_max_wait
from streams.kafka.seek_first import SeekFirstConsumer
from streams.kafka.transactions import (
    OUTSIDE_TRANSACTIONS,
    SourcePartitionTransactions,
    between_records,
)

#: The broker URL scheme this driver is registered under (pyproject.toml, faust.transports).
SCHEME = "hashgate-kafka"


class ConsumerThread(AIOKafkaConsumerThread):
    """faust's consumer thread, whose aiokafka consumer waits briefly only for a fetch that
    leaves out a partition faust reads (fetch_wait.py), leaves idle backlog partitions out of
    most fetches (backlog.py), and is asked for a fixed, never empty set of partitions.

    faust hands aiokafka its live set of active partitions, which the event loop keeps changing
    while the thread waits for records; aiokafka reads an empty set as "every partition". So
    once faust paused its last active partition (the changelogs, when a table's recovery is
    read), a waiting fetch returned the buffered records of paused stream partitions too, which
    faust then dropped as not active, after aiokafka had counted them consumed: records never
    delivered, a partition whose commit no longer moved.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self.fetch_wait = FetchWait()
        self._planned: aiokafka.AIOKafkaConsumer | None = None

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        set_fetch_max_wait(consumer, SHORT_WAIT_MS)  # until its fetcher's first plan
        return consumer

    async def getmany(
        self,
        active_partitions: set[TP] | None,
        timeout: float,  # noqa: ASYNC109 - faust's signature
    ) -> RecordMap:
        if active_partitions is None:  # a client-only app: every partition
            return await super().getmany(None, timeout)
        fixed = set(active_partitions)
        if not fixed:
            return {}
        return await super().getmany(fixed, timeout)

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: set[TP],
        timeout: float | None = None,  # noqa: ASYNC109 - faust's signature
        max_records: int | None = None,
    ) -> RecordMap:
        """A poll that hands out backlog topics' fetched records after every other topic's, and
        tells the fetch wait which partitions faust reads now. The first poll of a started
        consumer hooks its fetch plan (fetch_wait.py, backlog.py).

        Runs on the consumer's thread, where aiokafka's fetcher runs too, so nothing is fetched
        between the reordering and the hand-out; the hand-out stays aiokafka's own (a partition
        that failed still raises only after the records drained before it were handed out)."""
        backlog = backlog_topics(self.consumer.app)
        if self._planned is not consumer:  # its fetcher exists once it started
            idle_backlog = IdleBacklog(backlog)
            plan_fetches(
                consumer,
                wait_ms=self.fetch_wait.choose,
                sitting_out=idle_backlog.sitting_out,
                asked=idle_backlog.asked,
            )
            self._planned = consumer
        self.fetch_wait.reading(active_partitions)
        fetched_last(consumer, backlog)
        return await super()._fetch_records(consumer, active_partitions, timeout, max_records)


class Consumer(SeekFirstConsumer, TopicWideBufferingConsumer, DirectDeliveryConsumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def force_commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        """faust's commit, between records with Kafka transactions (transactions.py)."""
        async with between_records(self):
            return cast(
                bool,
                await super().force_commit(topics, start_new_transaction=start_new_transaction),
            )

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """With Kafka transactions, a rebalance first commits what the agents handled.

        faust forgets here the acks it has not committed, and keeps the transaction of every
        partition this worker gets back open, with the writes of those records in it: read again
        from the committed offset, they were handled and written a second time into the same
        transaction, which then committed both. So the record in progress finishes and is
        acked, everything acked commits, and the gate stays shut until faust stopped the flow:
        a record that waited at it is stale then, and left for the read after the rebalance."""
        async with between_records(self):
            try:
                if self.in_transaction:
                    await super().force_commit()
            except Exception as exc:  # noqa: BLE001 -- as faust's own revocation handles one:
                await self.app.crash(exc)  # their writes must not commit later without them
            finally:
                await super().on_partitions_revoked(revoked)


class Producer(AIOKafkaProducer):
    """faust's producer, which can tell when the table writes it buffered are confirmed
    (``settled``) and, with exactly-once processing, sends a table write made outside any
    record without a transaction (streams/kafka/transactions.py)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._unsettled: set[FutureMessage] = set()
        self._outside: set[asyncio.Future[Any]] = set()

    def send_soon(self, fut: FutureMessage) -> None:
        if not self.app.in_transaction:  # only a transaction's commit asks for ``settled``
            super().send_soon(fut)
            return
        self._unsettled.add(fut)
        fut.add_done_callback(self._unsettled.discard)
        if current_event() is not None:
            super().send_soon(fut)
            return
        token = OUTSIDE_TRANSACTIONS.set(True)  # the new task keeps a copy of the context
        try:
            task = asyncio.ensure_future(fut.message.channel.publish_message(fut))
        finally:
            OUTSIDE_TRANSACTIONS.reset(token)
        self._outside.add(task)
        task.add_done_callback(self._outside.discard)

    async def settled(self) -> None:
        """With exactly-once processing, return once every write handed to ``send_soon`` so
        far is confirmed; raise if one failed."""
        if self._unsettled:
            await asyncio.gather(*self._unsettled)


class Transport(AIOKafkaTransport):
    Consumer = Consumer
    Producer = Producer
    TransactionManager = SourcePartitionTransactions
