"""RocksDB table partitions whose changes reach the disk only once their transaction committed.

faust's RocksDB store writes each table change to disk at once (faust/stores/rocksdb.py,
``Store._set``), but with exactly-once processing the change's changelog record belongs to a
Kafka transaction, which a kill -9 aborts. The restarted instance reads the changelog only
past the offset kept on its disk, so the aborted change would stay: a verdict marked "seen"
whose actions were aborted (skipped on its replay: a loss), a count bumped twice. Kafka Streams
first wiped the state after such a crash (a restart that grows with the state), then made its
stores transactional (KIP-892); this store does the latter. A partition's changes wait in
memory, where reads see them, and reach RocksDB in one write batch together with the changelog
offset once the transaction holding them committed (``TransactionalTableManager.on_commit``);
a revoked partition drops them, its next owner reads them from the changelog if they committed.

faust's ``TableManager.on_commit`` looks its pending changelog offsets up by the committed
*source* partitions while it keeps them by *changelog* partition (faust/tables/manager.py), so
with exactly-once processing faust never stores the offset and every restart would replay the
whole changelog; the manager here maps one onto the other (tables are co-partitioned).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import rocksdict
from faust.streams import current_event
from faust.tables.recovery import Recovery
from faust.types import TP, CollectionT

from streams.kafka.recovery import MarkerAwareRecovery
from streams.kafka.rocksdb_store import BoundedStore
from streams.kafka.table_manager import PromptTableManager


class TransactionalStore(BoundedStore):
    """hashgate's RocksDB store, with each partition's changes kept until their transaction
    committed (see the module docstring). Iterating a table reads committed changes only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Per partition: key -> new value, None for a deletion.
        self.uncommitted: dict[int, dict[bytes, bytes | None]] = {}

    def _set(self, key: bytes, value: bytes | None) -> None:
        event = current_event()
        if event is None:
            raise RuntimeError("a table change outside a record belongs to no transaction")
        partition = event.message.partition
        self.uncommitted.setdefault(partition, {})[key] = value
        self._key_index[key] = partition

    def _del(self, key: bytes) -> None:
        event = current_event()
        if event is None:  # faust's expiry of old windows: sent without a transaction
            for changes in self.uncommitted.values():
                changes.pop(key, None)
            super()._del(key)
            return
        self.uncommitted.setdefault(event.message.partition, {})[key] = None

    def _get(self, key: bytes) -> bytes | None:
        found, value = self._pending(key)
        return value if found else super()._get(key)

    def _contains(self, key: bytes) -> bool:
        found, value = self._pending(key)
        return value is not None if found else super()._contains(key)

    def _pending(self, key: bytes) -> tuple[bool, bytes | None]:
        event = current_event()
        # A read while a record is handled looks at its partition; any other, at all.
        partitions = list(self.uncommitted) if event is None else [event.message.partition]
        for partition in partitions:
            changes = self.uncommitted.get(partition)
            if changes is not None and key in changes:
                return True, changes[key]
        return False, None

    def commit(self, partition: int, changelog_offset: int | None) -> None:
        """Write ``partition``'s changes and its changelog offset in one batch: a kill leaves
        both or neither."""
        changes = self.uncommitted.pop(partition, {})
        if not changes and changelog_offset is None:
            return
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in changes.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        if changelog_offset is not None:
            batch.put(self.offset_key, str(changelog_offset).encode())
        self._db_for_partition(partition).write(batch)

    def revoke_partitions(self, table: CollectionT, tps: set[TP]) -> None:
        for tp in tps:
            if tp.topic in table.changelog_topic.topics:
                self.uncommitted.pop(tp.partition, None)
        super().revoke_partitions(table, tps)


class TransactionalTableManager(PromptTableManager):
    """faust's table manager, storing each table partition's changes and changelog offset once
    the transaction of that partition committed (see the module docstring)."""

    @property
    def recovery(self) -> Recovery:
        """faust's recovery, which would wait 10 s at each changelog's closing transaction
        marker (streams/kafka/recovery.py)."""
        if self._recovery is None:
            self._recovery = MarkerAwareRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery

    def on_commit(self, offsets: Mapping[TP, int]) -> None:
        partitions = {tp.partition for tp in offsets}
        for table in self.values():
            changelog = table.changelog_topic.get_topic_name()
            store = table.data
            for partition in partitions:
                entry = self._pending_persisted_offsets.pop(TP(changelog, partition), None)
                offset = None if entry is None else entry[1]
                if isinstance(store, TransactionalStore):
                    store.commit(partition, offset)
                elif offset is not None:
                    store.set_persisted_offset(TP(changelog, partition), offset)
