"""RocksDB's memory stays within the state settings, in faust's tables and in hashgate's own
databases, however many entries are written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from faust.stores.rocksdb import RocksDBOptions
from rocksdict import Rdict

from streams.kafka.rocksdb_memory import MIB, WRITE_BUFFERS, rocksdict_options, table_options
from streams.settings import StateSettings

STATE = StateSettings(write_buffer_mb=1, block_cache_mb=1)
#: Small entries, as the agents' "seen" ids: 40,000 of them take about 4 MiB of write buffers.
ENTRIES = 40_000

OPENERS: dict[str, Callable[[Path], Rdict]] = {
    "faust table": lambda path: RocksDBOptions(**table_options(STATE, ttl_s=3600)).open(path),
    "own database": lambda path: Rdict(str(path), rocksdict_options(STATE)),
}


@pytest.mark.parametrize("opener", OPENERS.values(), ids=OPENERS.keys())
def test_write_buffers_are_flushed_to_disk_once_full(
    opener: Callable[[Path], Rdict], tmp_path: Path
) -> None:
    db = opener(tmp_path / "db")
    most = 0
    for n in range(ENTRIES):
        db.put(f'"verdict-{n:030d}"'.encode(), b'"2026-12-01T22:00:00.000000+00:00"')
        if n % 1000 == 0:
            most = max(most, db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0)
    db.close()
    assert most <= WRITE_BUFFERS * STATE.write_buffer_mb * MIB
    assert list((tmp_path / "db").glob("*.sst")), "nothing was flushed to disk"
