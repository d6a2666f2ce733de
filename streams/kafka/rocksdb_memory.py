"""RocksDB's memory: one budget for every database a process opens, faust's tables and its own.

faust opens a RocksDB per table partition, each with write buffers of its own (three of
64 MiB) and a read cache of its own, so resident memory grows with partitions times tables,
and with the state until the buffers fill. Bounding each database instead (an earlier
version) still left 8 partitions' buffers and caches filling slowly for hundreds of
thousands of entries (bench (j): RSS 1.164 over 500,000 verdicts).

Here all of a process's databases share one read cache of ``HASHGATE_STATE__ROCKSDB_MEMORY_MB``
and one write buffer manager, which charges the write buffers to that cache and has a buffer
written to disk once they hold half of it. Index and filter blocks live in the cache too (a
filter per file is otherwise held outside it and grows with the state). So RocksDB takes that
one figure whatever the number of tables and partitions, and reaches it early.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from rocksdict import BlockBasedOptions, Cache, Options, WriteBufferManager

from streams.settings import StateSettings

MIB = 1024 * 1024
#: The key in a table's faust ``options`` that carries the state settings to hashgate's store.
STATE_OPTION = "hashgate_state"
#: The key in a table's faust ``options`` that turns RocksDB's write-ahead log off for it.
WITHOUT_LOG_OPTION = "hashgate_without_write_ahead_log"
#: Bloom filter bits per key: RocksDB's usual 10 (about 1% false positives; faust's 3 misses
#: a third of the time, and each miss reads a block for an id never stored).
BLOOM_BITS_PER_KEY = 10
#: A memtable's allocation unit, as a share of the process's write buffers. The write buffer
#: manager counts what memtables allocated, not what they hold, and RocksDB's own unit is an
#: eighth of a database's write buffer, here the whole write budget: eight table partitions
#: holding a few entries each filled it, so nearly every write flushed a memtable of about five
#: entries (362 flushes of the latest-verdict table in 36 s at 50 uploads/s, each a new WAL and
#: SST file, docs/benchmarks.md). At 1/256, 128 databases idle at half the write budget.
ARENA_BLOCKS_PER_WRITE_BUDGET = 256
#: RocksDB's smallest arena block; block sizes are whole multiples of it.
ARENA_BLOCK_ALIGN = 4096


@dataclass(frozen=True)
class ProcessMemory:
    """The read cache and write buffer manager every database of the process shares."""

    cache: Cache
    write_buffers: WriteBufferManager
    write_buffer_bytes: int


@functools.cache
def process_memory(budget_mb: int) -> ProcessMemory:
    """One per budget, so one per process (the settings hold one budget)."""
    cache = Cache(budget_mb * MIB)
    write_buffer_bytes = budget_mb * MIB // 2
    # No stall at the limit: the manager flushes only the database being written to, so with
    # many databases (one per partition) a writer stalled on one whose buffer is empty would
    # wait forever (facebook/rocksdb#11780). A loaded machine may let the buffers pass the
    # limit until their flushes catch up; each database stops at two buffers regardless.
    manager = WriteBufferManager.new_write_buffer_manager_with_cache(
        write_buffer_bytes, False, cache
    )
    return ProcessMemory(cache, manager, write_buffer_bytes)


def database_options(state: StateSettings) -> Options:
    """Options for one RocksDB (raw bytes) within the process's budget."""
    memory = process_memory(state.rocksdb_memory_mb)
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_manager(memory.write_buffers)
    # a single database may use the whole write budget; the manager flushes before that
    options.set_write_buffer_size(memory.write_buffer_bytes)
    options.set_max_write_buffer_number(2)
    options.set_arena_block_size(arena_block_bytes(memory.write_buffer_bytes))
    options.set_target_file_size_base(4 * memory.write_buffer_bytes)
    table = BlockBasedOptions()
    table.set_block_cache(memory.cache)
    table.set_bloom_filter(BLOOM_BITS_PER_KEY, True)
    table.set_cache_index_and_filter_blocks(True)
    table.set_pin_l0_filter_and_index_blocks_in_cache(True)
    options.set_block_based_table_factory(table)
    return options


def arena_block_bytes(write_buffer_bytes: int) -> int:
    """Each memtable's allocation unit: small enough that one per database, as many databases
    as a worker opens, stays far below the process's write budget."""
    block = write_buffer_bytes // ARENA_BLOCKS_PER_WRITE_BUDGET
    return max(ARENA_BLOCK_ALIGN, block - block % ARENA_BLOCK_ALIGN)


def table_options(
    state: StateSettings, *, ttl_s: float | None = None, write_ahead_log: bool = True
) -> dict[str, Any]:
    """faust's ``options`` for a table on hashgate's store (streams/kafka/rocksdb_store.py):
    its partitions within the process's budget; with ``ttl_s``, RocksDB's TTL mode (an entry
    compacted out that long after it reached this disk); without ``write_ahead_log``, writes
    that a kill may lose until the store flushes them (only for a table whose changelog is the
    whole truth: streams/kafka/rocksdb_store.py says why that is safe)."""
    options: dict[str, Any] = {STATE_OPTION: state}
    if ttl_s is not None:
        options["ttl"] = max(int(ttl_s), 1)
    if not write_ahead_log:
        options[WITHOUT_LOG_OPTION] = True
    return options
