"""hashgate's partitioner places every key where Kafka's default partitioner does, and hashes
a key once however many records and lookups place it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner

from streams.kafka.app import create_app
from streams.kafka.partitioner import KeyPartitioner, key_hash, partition_for
from streams.settings import Settings, StateSettings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def no_remembered_keys() -> Iterator[None]:
    key_hash.cache_clear()
    yield
    key_hash.cache_clear()


def keys(count: int, seed: int = 3) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(0, 80)) for _ in range(count)]


@pytest.mark.parametrize("partitions", [1, 3, 8, 12])
def test_every_key_lands_where_kafkas_default_partitioner_puts_it(partitions: int) -> None:
    all_partitions = list(range(partitions))
    ours, kafkas = KeyPartitioner(), DefaultPartitioner()
    for key in keys(2000):
        expected = kafkas(key, all_partitions, all_partitions)
        assert ours(key, all_partitions, all_partitions) == expected
        assert partition_for(key, partitions) == expected


def test_a_key_placed_on_two_topics_and_looked_up_is_hashed_once() -> None:
    ours = KeyPartitioner()
    key = b"content-000042"
    partition_for(key, 8)  # the latest-verdict table's lookup
    ours(key, list(range(8)), [])  # the verdict record
    ours(key, list(range(8)), [])  # the latest-verdict record
    assert key_hash.cache_info().misses == 1


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    ours = KeyPartitioner()
    assert {ours(None, [0, 1, 2, 3], [2]) for _ in range(50)} == {2}


def test_every_app_places_its_records_with_it(tmp_path: Path) -> None:
    app = create_app(Settings(state=StateSettings(dir=tmp_path)), "moderation")
    assert isinstance(app.producer.partitioner, KeyPartitioner)
