"""faust's RocksDB store, with every table partition within the process's RocksDB budget.

faust builds each partition's RocksDB options itself (faust/stores/rocksdb.py,
``RocksDBOptions.as_options``), a new read cache each time; this store builds them with
streams/kafka/rocksdb_memory.py, which shares one cache and one write buffer manager.

A table may go without RocksDB's write-ahead log (``table_options(write_ahead_log=False)``):
its writes stay in memory until RocksDB flushes them to a file, and a put costs about half
(the latest-verdict table's, in bench (b)'s profile: docs/benchmarks.md). Only for a table whose
changelog holds everything it does: a kill loses the writes since the last flush, and with
them the changelog offset that faust keeps in the same database. Written in the same order,
with one column family and no log, what survives a crash is every write up to some point, so
the store never claims an offset whose records it lost, and faust reads them back from the
changelog on the next start. faust does not close its databases: ``Store.stop`` and
``revoke_partitions`` drop them for the garbage collector, which closes (and so flushes) one
only once nothing else refers to it. This store flushes them itself on both, so a clean stop or
a partition handed over reads nothing back whatever still holds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from faust.exceptions import ImproperlyConfigured
from faust.stores.rocksdb import RocksDBOptions
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TP, CollectionT
from rocksdict import Options, Rdict, WriteOptions

from streams.kafka.rocksdb_memory import STATE_OPTION, WITHOUT_LOG_OPTION, database_options
from streams.settings import StateSettings, StateStore

#: The stores' URL schemes (pyproject.toml registers them as faust stores): this module's
#: store, and streams/kafka/transactional_store.py's, which extends it.
SCHEME = "hashgate-rocksdb"
TRANSACTIONAL_SCHEME = "hashgate-rocksdb-transactional"


def store_url(state: StateSettings, name: str = "", *, transactional: bool = False) -> str:
    """faust's ``store`` for the state settings; ``name`` names the table's folder (faust
    takes a bare ``scheme://`` for "no store given" and names it after the table).

    ``transactional``: with RocksDB, the store whose changes wait for their Kafka transaction
    (exactly-once apps); the memory store has nothing on disk to keep back."""
    if state.store is not StateStore.ROCKSDB:
        scheme = state.store.value
    else:
        scheme = TRANSACTIONAL_SCHEME if transactional else SCHEME
    return f"{scheme}:{name}" if name else f"{scheme}://"


class BoundedOptions(RocksDBOptions):
    """faust's options for one partition's RocksDB, within the process's budget."""

    def __init__(
        self, state: StateSettings, *, write_ahead_log: bool = True, **options: Any
    ) -> None:
        super().__init__(use_rocksdict=True, **options)
        self.state = state
        self.write_ahead_log = write_ahead_log

    def open(self, path: Path, *, read_only: bool = False) -> Rdict:
        db: Rdict = super().open(path, read_only=read_only)
        if not self.write_ahead_log:
            without_log = WriteOptions()
            # a property at run time; rocksdict's stub declares a method
            without_log.disable_wal = True  # type: ignore[method-assign,assignment]
            db.set_write_options(without_log)
        return db

    def as_options(self) -> Options:
        options = database_options(self.state)
        if self.max_open_files is not None:  # faust's: 90% of the process's file limit
            options.set_max_open_files(self.max_open_files)
        return options


class BoundedStore(RocksDBStore):
    """faust's RocksDB store whose databases share the process's RocksDB budget."""

    rocksdb_options: BoundedOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # faust keeps (and pops from) the table's own options dict: read, don't pop
        options = dict(self.options or {})
        state = options.pop(STATE_OPTION, None)
        if not isinstance(state, StateSettings):
            raise ImproperlyConfigured(
                f"table {self.table_name!r} on the {SCHEME} store has no state settings: "
                "build its options with streams.kafka.rocksdb_memory.table_options"
            )
        write_ahead_log = not options.pop(WITHOUT_LOG_OPTION, False)
        self.rocksdb_options = BoundedOptions(state, write_ahead_log=write_ahead_log, **options)

    async def stop(self) -> None:
        self._flush(self._dbs.values())
        await super().stop()

    def revoke_partitions(self, table: CollectionT, tps: set[TP]) -> None:
        revoked = {tp.partition for tp in tps if tp.topic in table.changelog_topic.topics}
        self._flush(db for partition, db in self._dbs.items() if partition in revoked)
        super().revoke_partitions(table, tps)

    def _flush(self, databases: Iterable[Rdict]) -> None:
        """Writes held only in memory reach the disk before faust lets go of their databases."""
        if not self.rocksdb_options.write_ahead_log:
            for db in databases:
                db.flush(wait=True)
