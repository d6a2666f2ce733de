"""RocksDB's memory stays within one budget per process, across faust's tables and hashgate's
own databases, however many databases and entries there are."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from faust.exceptions import ImproperlyConfigured
from rocksdict import Rdict

from streams.kafka.app import create_app
from streams.kafka.rocksdb_memory import database_options, process_memory, table_options
from streams.kafka.rocksdb_store import BoundedOptions, BoundedStore
from streams.settings import Settings, StateSettings

pytestmark = pytest.mark.unit

STATE = StateSettings(rocksdb_memory_mb=2)
#: Small entries, as the agents' "seen" ids, spread over 8 databases: about 6 MiB of write
#: buffers if each database kept its own.
ENTRIES = 60_000
DATABASES = 8


def open_databases(folder: Path) -> list[Rdict]:
    """Half as faust's table partitions, half as hashgate's own databases."""
    faust_tables = [
        BoundedOptions(STATE, ttl=3600).open(folder / f"table-{n}") for n in range(DATABASES // 2)
    ]
    own = [Rdict(str(folder / f"own-{n}"), database_options(STATE)) for n in range(DATABASES // 2)]
    return faust_tables + own


def flushes_done(databases: list[Rdict], within_s: float = 10) -> None:
    """Until no database has a full buffer waiting to be written to disk."""
    deadline = time.monotonic() + within_s
    while any(db.property_int_value("rocksdb.num-immutable-mem-table") for db in databases):
        assert time.monotonic() < deadline, "the flushes did not finish"
        time.sleep(0.01)


def test_all_databases_of_a_process_share_one_write_budget_and_flush_to_disk(
    tmp_path: Path,
) -> None:
    memory = process_memory(STATE.rocksdb_memory_mb)
    databases = open_databases(tmp_path)
    most = 0
    for n in range(ENTRIES):
        key = f'"verdict-{n:030d}"'.encode()
        databases[n % DATABASES].put(key, b'"2026-12-01T22:00:00.000000+00:00"')
        if n % 1000 == 0:
            # the buffers being filled, once the full ones are on disk (a loaded machine
            # writes faster than it flushes for a while: the limit is not a stall)
            flushes_done(databases)
            most = max(
                most,
                sum(
                    db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
                    for db in databases
                ),
            )
    for db in databases:
        db.close()
    assert most <= memory.write_buffer_bytes * 1.1
    assert all(list(folder.glob("*.sst")) for folder in tmp_path.iterdir()), "a buffer stayed"


def test_a_few_entries_in_each_of_many_databases_stay_in_memory(tmp_path: Path) -> None:
    """Nothing is flushed while the databases hold a small part of the write budget.

    A memtable is charged what it allocated: with RocksDB's default unit, an eighth of the
    write budget, eight databases with an entry each filled the budget, and every later write
    flushed its database's memtable of a handful of entries to a new file."""
    state = StateSettings(rocksdb_memory_mb=3)  # a budget, and so a manager, of its own
    databases = [Rdict(str(tmp_path / f"db-{n}"), database_options(state)) for n in range(8)]
    entries = 2_000  # about 100 KiB: under a tenth of the 1.5 MiB of write buffers
    for n in range(entries):
        databases[n % 8].put(f"content-{n:08d}".encode(), b"clear:" + b"x" * 30)
    in_memory = sum(
        db.property_int_value("rocksdb.num-entries-active-mem-table") or 0 for db in databases
    )
    for db in databases:
        db.close()
    assert in_memory == entries


def test_reads_go_through_one_cache_of_the_budget(tmp_path: Path) -> None:
    databases = open_databases(tmp_path)
    for n in range(ENTRIES):
        databases[n % DATABASES].put(f"id-{n}".encode(), b"x" * 30)
    for db in databases:
        db.flush()  # the data blocks lookups read go through the cache from now on
    for n in range(0, ENTRIES, DATABASES):  # the first database's entries only
        assert databases[0].get(f"id-{n}".encode()) == b"x" * 30
    # Read one after the other while background work may change the usage: nearly the same
    # figure for every database if they share one cache; the first far above the others if
    # each had its own.
    usage = [db.property_int_value("rocksdb.block-cache-usage") or 0 for db in databases]
    for db in databases:
        db.close()
    assert min(usage) >= 0.9 * max(usage), f"a cache of its own per database: {usage}"
    assert max(usage) <= STATE.rocksdb_memory_mb * 1024 * 1024 * 1.1


def test_every_rocksdb_table_of_an_app_is_on_the_bounded_store(tmp_path: Path) -> None:
    app = create_app(Settings(state=StateSettings(dir=tmp_path)), "moderation")
    table = app.Table("seen", key_type=str, value_type=str, options=table_options(STATE))
    assert isinstance(table.data, BoundedStore)


def test_a_table_without_the_state_settings_is_refused_with_a_pointer(tmp_path: Path) -> None:
    app = create_app(Settings(state=StateSettings(dir=tmp_path)), "moderation")
    with pytest.raises(ImproperlyConfigured, match="table_options"):
        app.Table("seen", key_type=str, value_type=str).data  # noqa: B018
