"""Kafka's default partitioner (murmur2 of the key), each key hashed once, not three times.

The worker places one upload's key three times: its latest-verdict table asks which partition
holds it, and the producer places the verdict record and then the latest-verdict record.
aiokafka's murmur2 is pure Python, a few microseconds a key (bench (b)'s profile:
docs/benchmarks.md). The same hash with the last few thousand keys' results kept gives the same
partitions, so consumers and the table keep agreeing with every other Kafka client.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from aiokafka.partitioner import DefaultPartitioner, murmur2

#: Keys whose hash is kept: far more than a worker has records between their placements.
REMEMBERED_KEYS = 4096


@functools.lru_cache(maxsize=REMEMBERED_KEYS)
def key_hash(key: bytes) -> int:
    """The non-negative murmur2 hash Kafka's default partitioner takes the partition from."""
    return int(murmur2(key)) & 0x7FFFFFFF


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` among ``partitions``."""
    return key_hash(key) % partitions


class KeyPartitioner:
    """aiokafka's default partitioner (``producer_partitioner`` of every hashgate app), whose
    key hashes come from ``key_hash``."""

    def __init__(self) -> None:
        self._unkeyed = DefaultPartitioner()  # a random partition, as aiokafka picks it

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        if key is None:
            return int(self._unkeyed(key, all_partitions, available))
        return all_partitions[key_hash(key) % len(all_partitions)]
