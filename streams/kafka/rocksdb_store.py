"""faust's RocksDB store, with every table partition within the process's RocksDB budget.

faust builds each partition's RocksDB options itself (faust/stores/rocksdb.py,
``RocksDBOptions.as_options``), a new read cache each time; this store builds them with
streams/kafka/rocksdb_memory.py, which shares one cache and one write buffer manager.
"""

from __future__ import annotations

from typing import Any

from faust.exceptions import ImproperlyConfigured
from faust.stores.rocksdb import RocksDBOptions
from faust.stores.rocksdb import Store as RocksDBStore
from rocksdict import Options

from streams.kafka.rocksdb_memory import STATE_OPTION, database_options
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

    def __init__(self, state: StateSettings, **options: Any) -> None:
        super().__init__(use_rocksdict=True, **options)
        self.state = state

    def as_options(self) -> Options:
        options = database_options(self.state)
        if self.max_open_files is not None:  # faust's: 90% of the process's file limit
            options.set_max_open_files(self.max_open_files)
        return options


class BoundedStore(RocksDBStore):
    """faust's RocksDB store whose databases share the process's RocksDB budget."""

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
        self.rocksdb_options = BoundedOptions(state, **options)
