"""A compacted topic every worker reads whole and follows: the quota savers' shared state.

Each worker keeps its own copy of the topic (all partitions, then every record as it arrives),
so what one worker writes, every worker sees within about a second. A copy on disk
(streams/kafka/followed_store.py) also keeps how far it has read, so a worker restarted after
``kill -9`` reads only the records written since; one in memory reads the whole topic again.
faust's GlobalTable would be the faust-native way; in faust-streaming 0.15.3 with hashgate's
transport it kept the worker's consumer from ever being assigned its partitions, so this
follower reads the topic with a group-less assigned consumer (like CatchUpReader) and writes
through faust's producer (FaustWriter, which tracks the topic first).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import faust
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from streams.kafka.config import started
from streams.kafka.confirmed import FaustWriter
from streams.kafka.followed_store import FollowedStore
from streams.kafka.spans import partitions_of, span_consumer
from streams.settings import Settings

log = logging.getLogger(__name__)

#: One fetch's records of one partition, in offset order.
OnRecords = Callable[[int, Sequence[ConsumerRecord[bytes, bytes]]], None]


def each_record(on_record: Callable[[bytes, bytes | None], None]) -> OnRecords:
    """``on_record(key, value)`` for every record, for a follower that keeps no offsets."""

    def on_records(partition: int, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            on_record(record.key or b"", record.value)

    return on_records


class TopicFollower:
    """Hands ``on_records`` every record of ``topic``, in order per partition, for ever.

    Each partition is read from the offset ``resume_at`` gives for it, or from its start.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        on_records: OnRecords,
        resume_at: Callable[[], dict[int, int]] = dict,
    ) -> None:
        self._settings = settings
        self.topic = topic
        self._on_records = on_records
        self._resume_at = resume_at
        self.caught_up = asyncio.Event()
        self.records_read = 0

    async def run(self) -> None:
        """The topic must exist (the worker creates it before it starts, see saver_topics)."""
        partitions = await partitions_of(self._settings, self.topic)
        tps = [TopicPartition(self.topic, p) for p in partitions]
        consumer = span_consumer(self._settings.kafka)
        await started(consumer)
        try:
            consumer.assign(tps)
            await self._seek(consumer, tps)
            ends = await consumer.end_offsets(tps)
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    self._on_records(tp.partition, records)
                    self.records_read += len(records)
                if not self.caught_up.is_set() and await _at_ends(consumer, ends):
                    log.info(
                        "read %s up to where it ended at start (%d records)",
                        self.topic,
                        self.records_read,
                    )
                    self.caught_up.set()
        finally:
            await consumer.stop()

    async def _seek(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        """Where the local copy left off; an offset the topic no longer holds (retention,
        a recreated topic) resets to the partition's start (the consumer's reset policy)."""
        resume = self._resume_at()
        fresh = [tp for tp in tps if tp.partition not in resume]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
        for tp in tps:
            if tp.partition in resume:
                consumer.seek(tp, resume[tp.partition])


async def _at_ends(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    return all([await consumer.position(tp) >= end for tp, end in ends.items()])


class FollowedTable:
    """A str-to-bytes map over a followed topic: reads are local, writes go to the topic.

    A write is in this worker's copy at once and in the others' once Kafka has it; it is sent
    in the background, so a caller never waits for it (a lost write only costs a later miss).
    The local copy is opened when the worker runs (``run``), after its start-up checks, not
    when the worker is built.
    """

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        topic: str,
        open_store: Callable[[], FollowedStore],
    ) -> None:
        self._open_store = open_store
        self._store: FollowedStore | None = None
        self._writer = FaustWriter(app, writes=[topic])
        self._topic = topic
        self._sending: set[asyncio.Task[None]] = set()
        self.follower = TopicFollower(
            settings, topic, self._apply, lambda: self._opened().positions()
        )

    def _opened(self) -> FollowedStore:
        if self._store is None:
            raise LookupError(f"the local copy of {self._topic} is not open (worker not running)")
        return self._store

    def _apply(self, partition: int, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        self._opened().apply((partition, r.offset, r.key or b"", r.value) for r in records)

    def get(self, key: str) -> bytes | None:
        return self._opened().get(key.encode())

    def __setitem__(self, key: str, value: bytes) -> None:
        self._opened().put(key.encode(), value)
        task = asyncio.get_running_loop().create_task(self._send(key, value))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def __len__(self) -> int:
        return 0 if self._store is None else self._store.count()

    async def run(self) -> None:
        """Follows the topic for as long as the worker runs; the copy closes with it."""
        self._store = self._open_store()
        try:
            await self.follower.run()
        finally:
            store, self._store = self._store, None
            store.close()

    async def _send(self, key: str, value: bytes) -> None:
        try:
            await self._writer.write(self._topic, key.encode(), value, [])
        except Exception:  # the entry stays local; other workers ask PhotoDNA themselves
            log.warning("writing to %s failed", self._topic, exc_info=True)
