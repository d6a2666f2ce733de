"""A followed topic's local copy: its entries, how far it read, what survives a restart and
what expires."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashgate_tools.harness.waiting import eventually
from streams.kafka.followed_store import FollowedStore, MemoryStore, RocksStore
from streams.kafka.rocksdb_memory import database_options
from streams.settings import StateSettings

DAY_S = 24 * 3600.0


def rocks(path: Path, ttl_s: float = DAY_S) -> RocksStore:
    return RocksStore(path, ttl_s=ttl_s, options=database_options(StateSettings()))


@pytest.fixture(params=["memory", "rocksdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FollowedStore:
    if request.param == "memory":
        return MemoryStore()
    return rocks(tmp_path / "copy")


def test_records_read_set_and_delete_entries_and_move_the_partitions_offsets(
    store: FollowedStore,
) -> None:
    store.apply([(0, 10, b"a", b"1"), (1, 3, b"b", b"2"), (0, 11, b"a", b"3")])
    assert (store.get(b"a"), store.get(b"b"), store.get(b"c")) == (b"3", b"2", None)
    assert store.positions() == {0: 12, 1: 4}
    store.apply([(1, 4, b"b", None)])
    assert store.get(b"b") is None
    assert store.positions() == {0: 12, 1: 5}
    if isinstance(store, RocksStore):  # an estimate, from the files once compacted
        store._db.compact_range(None, None)
    assert store.count() == 1


def test_a_local_write_is_read_back_at_once_and_moves_no_offset(store: FollowedStore) -> None:
    store.put(b"mine", b"answer")
    assert store.get(b"mine") == b"answer"
    assert store.positions() == {}


def test_a_copy_on_disk_comes_back_with_its_offsets(tmp_path: Path) -> None:
    first = rocks(tmp_path / "copy")
    first.apply([(2, 40, b"digest", b"answer")])
    first.close()
    again = rocks(tmp_path / "copy")
    assert again.get(b"digest") == b"answer"
    assert again.positions() == {2: 41}, "a restart reads on from here, not from offset 0"


async def test_entries_older_than_the_ttl_leave_the_disk_in_a_compaction(tmp_path: Path) -> None:
    copy = rocks(tmp_path / "copy", ttl_s=1)
    copy.apply([(0, 0, b"old", b"answer")])
    copy._db.compact_range(None, None)
    assert copy.get(b"old") == b"answer", "a compaction kept it while younger than its TTL"

    def compacted_away() -> bool:
        copy._db.compact_range(None, None)
        return copy.get(b"old") is None

    await eventually(compacted_away, within=5.0, poll=0.2, what="expiry 5 s after a 1 s TTL")
