"""Where a worker keeps its copy of a followed topic: on disk (RocksDB) or, in tests, in memory.

The copy holds the topic's entries and, with them, how far each partition has been read, so a
restarted worker reads only what was written since (not the whole topic again). Entries expire
``ttl_s`` after they were written here: RocksDB's TTL drops them in its compactions, which
bounds the disk a copy takes to what arrived within that time. Until a compaction runs, an
expired entry can still be read; a reader that must not see one checks its age itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, cast

from rocksdict import AccessType, Options, Rdict, WriteBatch

_ENTRY = b"e/"
_POSITION = b"p/"

#: (partition, offset, key, value): one record of the followed topic; a None value deletes.
Applied = tuple[int, int, bytes, bytes | None]


class FollowedStore(Protocol):
    """A followed topic's entries and, per partition, the offset to read next."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None:
        """This worker's own write, kept before the topic has it (no offset moves)."""

    def apply(self, records: Iterable[Applied]) -> None:
        """Records read from the topic, with the offsets past them, in one write."""

    def positions(self) -> dict[int, int]:
        """Offset to read next per partition; a partition not listed is read from its start."""

    def count(self) -> int:
        """Entries held (an estimate for RocksDB, read without a scan)."""

    def close(self) -> None: ...


class MemoryStore:
    """Kept in the process: a restart reads the whole topic again."""

    def __init__(self) -> None:
        self._entries: dict[bytes, bytes] = {}
        self._positions: dict[int, int] = {}

    def get(self, key: bytes) -> bytes | None:
        return self._entries.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._entries[key] = value

    def apply(self, records: Iterable[Applied]) -> None:
        for partition, offset, key, value in records:
            if value is None:
                self._entries.pop(key, None)
            else:
                self._entries[key] = value
            self._positions[partition] = offset + 1

    def positions(self) -> dict[int, int]:
        return dict(self._positions)

    def count(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        """Nothing to release."""


class RocksStore:
    """A RocksDB with a TTL under ``path``; entries and offsets of one batch land together.
    ``options`` (raw mode) bound its memory: streams.kafka.rocksdb_memory.database_options."""

    def __init__(self, path: Path, *, ttl_s: float, options: Options) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(str(path), options, access_type=AccessType.with_ttl(int(ttl_s)))

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(_ENTRY + key)
        return value

    def put(self, key: bytes, value: bytes) -> None:
        self._db.put(_ENTRY + key, value)

    def apply(self, records: Iterable[Applied]) -> None:
        batch = WriteBatch(raw_mode=True)
        for partition, offset, key, value in records:
            if value is None:
                batch.delete(_ENTRY + key)
            else:
                batch.put(_ENTRY + key, value)
            batch.put(_POSITION + str(partition).encode(), str(offset + 1).encode())
        self._db.write(batch)

    def positions(self) -> dict[int, int]:
        found: dict[int, int] = {}
        for key, value in self._db.items(from_key=_POSITION):
            key = cast(bytes, key)  # raw mode: keys and values are bytes
            if not key.startswith(_POSITION):
                break
            found[int(key[len(_POSITION) :])] = int(cast(bytes, value))
        return found

    def count(self) -> int:
        estimate = self._db.property_int_value("rocksdb.estimate-num-keys")
        return max(0, (estimate or 0) - len(self.positions()))

    def close(self) -> None:
        self._db.close()
