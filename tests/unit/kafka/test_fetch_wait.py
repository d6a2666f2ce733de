"""The fetch wait: long only for a fetch that asks for every partition faust reads, on aiokafka's
own partition states (no broker)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest
from aiokafka import AIOKafkaConsumer
from faust.types import TP

from streams.kafka.fetch_wait import FetchWait
from streams.kafka.internals import plan_fetches
from tests.unit.kafka.fetch_plan import PlanningFetcher, assigned_at_zero

pytestmark = pytest.mark.unit

LIVE = [TP("content.uploads", 0), TP("content.uploads", 1)]
RESCANS = TP("content.rescans", 0)
SHORT, LONG = 10, 500


class Partitions:
    """Partitions assigned through aiokafka's own subscription state, a hooked fake fetcher, and
    faust reading ``LIVE``."""

    def __init__(self) -> None:
        self.subscription, self.assignment = assigned_at_zero([*LIVE, RESCANS])
        self.fetcher = PlanningFetcher()
        self.wait = FetchWait(short_ms=SHORT, long_ms=LONG)
        self.wait.reading(LIVE)
        consumer = cast(AIOKafkaConsumer, SimpleNamespace(_fetcher=self.fetcher))
        plan_fetches(
            consumer,
            wait_ms=self.wait.choose,
            sitting_out=lambda assigned, position: (),
            asked=lambda fetched: None,
        )

    def plan(self) -> int:
        self.fetcher._get_actions_per_node(self.assignment)
        return self.fetcher.waits[-1]


@pytest.fixture
async def partitions() -> Partitions:
    """Built on the test's loop: aiokafka's subscription state makes futures."""
    return Partitions()


async def test_a_fetch_of_every_partition_faust_reads_waits_long(partitions: Partitions) -> None:
    assert partitions.plan() == LONG


async def test_a_partition_faust_reads_with_records_still_buffered_makes_the_wait_short(
    partitions: Partitions,
) -> None:
    partitions.fetcher._records[LIVE[1]] = object()
    assert partitions.plan() == SHORT
    del partitions.fetcher._records[LIVE[1]]
    assert partitions.plan() == LONG


async def test_a_paused_partition_faust_reads_makes_the_wait_short(partitions: Partitions) -> None:
    partitions.subscription.pause(LIVE[0])
    assert partitions.plan() == SHORT
    partitions.subscription.resume(LIVE[0])
    assert partitions.plan() == LONG


async def test_a_partition_faust_reads_awaiting_its_position_makes_the_wait_short(
    partitions: Partitions,
) -> None:
    partitions.assignment.state_value(LIVE[0]).await_reset(0)
    assert partitions.plan() == SHORT


async def test_a_partition_faust_reads_but_not_assigned_here_makes_the_wait_short(
    partitions: Partitions,
) -> None:
    partitions.wait.reading([*LIVE, TP("content.uploads", 7)])
    assert partitions.plan() == SHORT


async def test_partitions_faust_does_not_read_leave_the_wait_long(partitions: Partitions) -> None:
    """A backlog topic whose agent is full: faust left it out of its poll, so its buffered
    records and its pause cannot delay what faust is waiting for."""
    partitions.fetcher._records[RESCANS] = object()
    partitions.subscription.pause(RESCANS)
    assert partitions.plan() == LONG


def test_before_faust_reads_anything_the_wait_is_long() -> None:
    assert FetchWait(short_ms=SHORT, long_ms=LONG).choose(lambda tp: False) == LONG


async def test_the_wait_follows_what_faust_reads_now(partitions: Partitions) -> None:
    partitions.fetcher._records[RESCANS] = object()
    partitions.wait.reading([*LIVE, RESCANS])
    assert partitions.plan() == SHORT
    partitions.wait.reading(LIVE)
    assert partitions.plan() == LONG


def test_a_short_wait_above_the_long_one_is_refused() -> None:
    with pytest.raises(ValueError, match="short wait"):
        FetchWait(short_ms=600, long_ms=500)
