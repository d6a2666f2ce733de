"""The worker's table of each content's latest verdict, kept on disk across restarts.

A faust table (RocksDB by default) whose changelog *is* the compacted latest-verdict topic: the
records the worker already writes there (key: content id, value: the Verdict's JSON) are the
table's changelog records, so there is no second copy and no format change. The topic has the
partition count of the uploads and rescan topics and the same key, so faust assigns partition N
of the table to the worker that scans partition N of those topics.

The worker writes the topic itself through its confirmed writer (a latest-verdict record only
after its verdict is confirmed, streams/scan/outputs.py) and puts the value into its own table
partition once Kafka confirmed it: faust's own table write would send through the producer
without waiting. faust restores a partition from its changelog only past the offset the store
recorded; ``checkpoint`` records how far the table is up to date, so a restart or a rebalance
reads only what is new. A partition not (yet) restored here answers ``StateUnavailable``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

import faust
from faust.types import TP, EventT

from streams.kafka.internals import table_partition
from streams.kafka.partitioner import partition_for
from streams.kafka.rocksdb_memory import table_options
from streams.kafka.rocksdb_store import store_url
from streams.settings import Settings, StateStore

log = logging.getLogger(__name__)

TABLE_NAME = "hashgate.verdicts.latest"


class StateUnavailable(LookupError):
    """This worker does not hold an up-to-date copy of the content's table partition."""


class _RestoringTable(faust.Table[bytes, bytes]):
    """faust's table that knows which active partitions are restored and counts replays."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.restored: set[TP] = set()
        self.restoring = False
        self.replayed = 0

    def apply_changelog_batch(self, batch: Iterable[EventT[Any]]) -> None:
        events = list(batch)
        self.replayed += len(events)
        super().apply_changelog_batch(events)

    async def on_rebalance(
        self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP], generation_id: int = 0
    ) -> None:
        self.restored -= {*revoked, *newly_assigned}
        self.restoring = True
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        await super().on_recovery_completed(active_tps, standby_tps)
        self.restored = set(active_tps)
        self.restoring = False


class LatestVerdictTable:
    """Latest verdict record per content id: read, stored once confirmed, checkpointed."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        state = settings.state
        self._app = app
        self.topic = settings.topics.verdicts_latest
        self._partitions = settings.topics.partitions
        options: dict[str, Any] | None = None
        if state.store is StateStore.ROCKSDB:
            # No write-ahead log: the table is a copy of its changelog (see the docstring),
            # which a restart after a kill reads back from the offset that survived.
            options = table_options(state, ttl_s=state.verdict_digests_ttl_s, write_ahead_log=False)
        table = _RestoringTable(
            app,
            name=TABLE_NAME,
            beacon=app.tables.beacon,
            help="Latest verdict per content id (changelog: the latest-verdict topic).",
            key_type=bytes,
            value_type=bytes,
            partitions=self._partitions,
            changelog_topic=app.topic(
                self.topic,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=self._partitions,
                replicas=settings.topics.replication_factor,
                # as faust's own changelog topics: no acks (nothing consumes it as a stream, and
                # faust's stall check would report the partitions as stuck). No ``maxsize``:
                # ``App.topic`` drops it (streams/kafka/app.py, raw_topic), and restores have
                # always run at faust's stream_buffer_maxsize.
                acks=False,
                allow_empty=True,
            ),
            store=store_url(state, TABLE_NAME),
            options=options,
        )
        app.tables.add(table)
        self._table = table
        self.faust_table: faust.Table[bytes, bytes] = table  # faust's hooks drive it
        self._writing: Counter[int] = Counter()  # latest-verdict writes not yet in the table
        self._begun: Counter[int] = Counter()  # latest-verdict writes ever begun

    @property
    def replayed(self) -> int:
        """Changelog records faust restored into this table since the process started."""
        return self._table.replayed

    @property
    def restoring(self) -> bool:
        """Between a rebalance and the end of faust's restore of the table."""
        return self._table.restoring

    def partition_of(self, key: bytes) -> int:
        """The partition Kafka's default partitioner (murmur2) gives ``key``."""
        return partition_for(key, self._partitions)

    def latest(self, content_id: str) -> bytes | None:
        """The content's latest verdict record, None if it never had one."""
        key = content_id.encode()
        partition = self.partition_of(key)
        if TP(self.topic, partition) not in self._table.restored:
            raise StateUnavailable(f"{self.topic}[{partition}] is not restored on this worker")
        value: bytes | None = table_partition(self._table, partition).get(key)
        return value

    def begin_write(self, key: bytes) -> int:
        """A latest-verdict write starts: no checkpoint of its partition until it is stored."""
        partition = self.partition_of(key)
        self._writing[partition] += 1
        self._begun[partition] += 1
        return partition

    def end_write(self, partition: int, key: bytes, confirmed: bytes | None) -> None:
        """The write ended; ``confirmed`` is the value Kafka acknowledged (None: it failed)."""
        self._writing[partition] -= 1
        if confirmed is not None and TP(self.topic, partition) in self._table.restored:
            table_partition(self._table, partition)[key] = confirmed

    async def checkpoint(self) -> None:
        """Record, per restored partition, the offset up to which the table holds every record.

        Only this worker writes its partitions, so once no write of a partition is pending, the
        table holds everything below the partition's end offset. A write that began while the
        end offset was read makes the partition wait for the next checkpoint.
        """
        candidates = {
            tp: self._begun[tp.partition]
            for tp in self._table.restored
            if not self._writing[tp.partition]
        }
        if not candidates:
            return
        ends = await self._app.consumer.highwaters(*candidates)
        for tp, begun in sorted(candidates.items()):
            end = ends.get(tp)
            unchanged = begun == self._begun[tp.partition] and not self._writing[tp.partition]
            if end and unchanged and tp in self._table.restored:
                self._table.data.set_persisted_offset(tp, end - 1)
