"""A table without RocksDB's write-ahead log: its writes skip the log and still reach the disk
when faust stops the store or revokes a partition, whatever still holds the database."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest
from faust.types import TP
from rocksdict import AccessType, Options, Rdict

from streams.kafka.app import create_app
from streams.kafka.rocksdb_memory import table_options
from streams.kafka.rocksdb_store import BoundedStore
from streams.settings import Settings, StateSettings

pytestmark = pytest.mark.unit


def table_on(state_dir: Path, *, write_ahead_log: bool) -> faust.Table[bytes, bytes]:
    state = StateSettings(dir=state_dir)
    app = create_app(Settings(state=state), "moderation")
    options = table_options(state, write_ahead_log=write_ahead_log)
    return app.Table("latest", key_type=bytes, value_type=bytes, options=options)


def store_of(table: faust.Table[bytes, bytes]) -> BoundedStore:
    assert isinstance(table.data, BoundedStore)
    return table.data


def on_disk(store: BoundedStore, partition: int, key: bytes) -> bytes | None:
    """The key as a second reader sees it in the partition's files, the writer still open."""
    path = str(store.partition_path(partition))
    reader = Rdict(path, Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        value: bytes | None = reader.get(key)
        return value
    finally:
        reader.close()


def log_bytes(store: BoundedStore, partition: int) -> int:
    return sum(f.stat().st_size for f in store.partition_path(partition).glob("*.log"))


@pytest.mark.parametrize("write_ahead_log", [True, False])
def test_only_a_table_that_asks_for_it_writes_without_the_log(
    tmp_path: Path, write_ahead_log: bool
) -> None:
    store = store_of(table_on(tmp_path, write_ahead_log=write_ahead_log))
    store._db_for_partition(0)[b"content-1"] = b"clear"
    assert (log_bytes(store, 0) > 0) is write_ahead_log


async def test_stopping_the_store_flushes_writes_held_only_in_memory(tmp_path: Path) -> None:
    store = store_of(table_on(tmp_path, write_ahead_log=False))
    held = store._db_for_partition(0)  # a reference that keeps the garbage collector off
    held[b"content-1"] = b"clear"
    assert on_disk(store, 0, b"content-1") is None  # in memory only: a kill would lose it
    await store.stop()
    assert on_disk(store, 0, b"content-1") == b"clear"


def test_revoking_a_partition_flushes_it_and_no_other(tmp_path: Path) -> None:
    table = table_on(tmp_path, write_ahead_log=False)
    store = store_of(table)
    held = [store._db_for_partition(p) for p in (0, 1)]
    for db in held:
        db[b"content-1"] = b"clear"
    store.revoke_partitions(table, {TP(table.changelog_topic.get_topic_name(), 0)})
    assert on_disk(store, 0, b"content-1") == b"clear"
    assert on_disk(store, 1, b"content-1") is None
