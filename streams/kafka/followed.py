"""A compacted topic every worker reads whole and follows: the quota savers' shared state.

Each worker keeps its own copy of the topic (all partitions, from the beginning at start, then
every record as it arrives), so what one worker writes, every worker sees within about a
second, and a worker killed with ``kill -9`` reads it all back at its next start. faust's
GlobalTable would be the faust-native way; in faust-streaming 0.15.3 with hashgate's transport
it kept the worker's consumer from ever being assigned its partitions, so this follower reads
the topic with a group-less assigned consumer (like CatchUpReader) and writes through faust's
producer (FaustWriter, which tracks the topic first).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, MutableMapping

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.config import started
from streams.kafka.confirmed import FaustWriter
from streams.kafka.spans import partitions_of, span_consumer
from streams.settings import Settings

log = logging.getLogger(__name__)

OnRecord = Callable[[bytes, bytes | None], None]
COMPACTED = {"cleanup.policy": "compact"}


class TopicFollower:
    """Hands ``on_record`` every record of ``topic``, in order per partition, for ever."""

    def __init__(self, settings: Settings, topic: str, on_record: OnRecord) -> None:
        self._settings = settings
        self.topic = topic
        self._on_record = on_record
        self.caught_up = asyncio.Event()

    async def run(self) -> None:
        """The topic must exist (the worker creates it before it starts, see saver_topics)."""
        partitions = await partitions_of(self._settings, self.topic)
        tps = [TopicPartition(self.topic, p) for p in partitions]
        consumer = span_consumer(self._settings.kafka)
        await started(consumer)
        try:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        self._on_record(record.key or b"", record.value)
                if not self.caught_up.is_set() and await _at_ends(consumer, ends):
                    log.info("read %s up to where it ended at start", self.topic)
                    self.caught_up.set()
        finally:
            await consumer.stop()


async def _at_ends(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    return all([await consumer.position(tp) >= end for tp, end in ends.items()])


class FollowedTable(MutableMapping[str, bytes]):
    """A str-to-bytes map over a followed topic: reads are local, writes go to the topic.

    A write is in this worker's copy at once and in the others' once Kafka has it; it is sent
    in the background, so a caller never waits for it (a lost write only costs a later miss).
    """

    def __init__(self, app: faust.App, settings: Settings, topic: str) -> None:
        self._data: dict[str, bytes] = {}
        self._writer = FaustWriter(app, writes=[topic])
        self._topic = topic
        self._sending: set[asyncio.Task[None]] = set()
        self.follower = TopicFollower(settings, topic, self._apply)

    def _apply(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self._data.pop(key.decode(errors="replace"), None)
        else:
            self._data[key.decode(errors="replace")] = value

    def __getitem__(self, key: str) -> bytes:
        return self._data[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self._data[key] = value
        task = asyncio.get_running_loop().create_task(self._send(key, value))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def __delitem__(self, key: str) -> None:
        raise NotImplementedError("entries leave by compaction of a newer record only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    async def _send(self, key: str, value: bytes) -> None:
        try:
            await self._writer.write(self._topic, key.encode(), value, [])
        except Exception:  # the entry stays local; other workers ask PhotoDNA themselves
            log.warning("writing to %s failed", self._topic, exc_info=True)
