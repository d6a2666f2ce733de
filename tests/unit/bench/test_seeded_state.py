"""Bench (i) seeds the moderation agent's ``seen`` table through its changelog: each record must
be the one the agent would have written for that verdict, or the seeded ids are not found."""

from __future__ import annotations

import json

import pytest
from aiokafka.partitioner import DefaultPartitioner

from bench.downstream_state import seen_records, verdict_records
from hashgate_tools.harness.downstream import PARTITIONS

pytestmark = pytest.mark.unit


def test_a_seeded_entry_is_the_published_verdicts_id_in_the_partition_of_its_record() -> None:
    seeded = list(seen_records(12))
    published = list(verdict_records([0, 7, 11]))

    for n, (content_key, verdict, by_producer) in zip((0, 7, 11), published, strict=True):
        key, when, partition = seeded[n]
        assert by_producer is None  # the producer's own partitioner places the verdict
        assert json.loads(key) == json.loads(verdict)["verdict_id"]
        assert json.loads(when)  # a non-empty string: faust drops falsy values on recovery
        assert partition == DefaultPartitioner()(content_key, list(range(PARTITIONS)), [])
