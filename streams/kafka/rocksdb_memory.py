"""RocksDB's memory, bounded by the state settings, for every database hashgate opens.

Left to faust's defaults, each table partition gets up to three 64 MiB write buffers and a
2 GiB read cache. hashgate's entries are small (an id and a timestamp, about 80 bytes in a
buffer), so a buffer fills only after most of a million of them: until then nothing is flushed
to disk and resident memory grows with the state (bench (j) and (k): 0.2 and 0.4 KiB per
verdict handled, all of it write buffers). With ``HASHGATE_STATE__WRITE_BUFFER_MB`` a partition
flushes its buffer to disk once it is that full, so its memory stops growing at about two
buffers (the one filling and the one being flushed) plus ``HASHGATE_STATE__BLOCK_CACHE_MB`` of
cached reads.
"""

from __future__ import annotations

from typing import Any

from rocksdict import BlockBasedOptions, Cache, Options

from streams.settings import StateSettings

MIB = 1024 * 1024
#: Write buffers per partition: one filling while the full one is written to disk.
WRITE_BUFFERS = 2


def table_options(state: StateSettings, *, ttl_s: float | None = None) -> dict[str, Any]:
    """faust's store options for one table (``faust.Table(options=...)``): each of its
    partitions' RocksDB within the state settings' memory; with ``ttl_s``, RocksDB's TTL mode
    (an entry compacted out that long after it reached this disk)."""
    options: dict[str, Any] = {
        "block_cache_size": state.block_cache_mb * MIB,
        "write_buffer_size": state.write_buffer_mb * MIB,
        "max_write_buffer_number": WRITE_BUFFERS,
        "target_file_size_base": 4 * state.write_buffer_mb * MIB,
    }
    if ttl_s is not None:
        options["ttl"] = max(int(ttl_s), 1)
    return options


def rocksdict_options(state: StateSettings) -> Options:
    """The same bounds for a RocksDB that hashgate opens itself (rocksdict, raw bytes)."""
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(state.write_buffer_mb * MIB)
    options.set_max_write_buffer_number(WRITE_BUFFERS)
    options.set_target_file_size_base(4 * state.write_buffer_mb * MIB)
    table = BlockBasedOptions()
    table.set_block_cache(Cache(state.block_cache_mb * MIB))
    options.set_block_based_table_factory(table)
    return options
