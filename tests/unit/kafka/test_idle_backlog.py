"""Idle backlog partitions sit out fetches for a while, on aiokafka's own partition states (no
broker): which partitions sit out, and the fetch plan built without them (streams/kafka/backlog.py,
streams/kafka/internals.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest
from aiokafka import AIOKafkaConsumer
from faust.types import TP

from streams.kafka.backlog import IdleBacklog
from streams.kafka.fetch_wait import FetchWait
from streams.kafka.internals import plan_fetches
from tests.unit.kafka.fetch_plan import PlanningFetcher, assigned_at_zero

pytestmark = pytest.mark.unit

UPLOADS = TP("content.uploads", 0)
RESCANS = TP("hashgate.scan.rescan", 0)
RETRIES = TP("hashgate.scan.retries", 0)
REVISIT_S = 0.5
SHORT, LONG = 10, 500


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Worker:
    """A live and two backlog partitions assigned through aiokafka's own subscription state, a
    hooked fake fetcher, faust reading all three."""

    def __init__(self) -> None:
        self.subscription, self.assignment = assigned_at_zero([UPLOADS, RESCANS, RETRIES])
        self.clock = Clock()
        self.idle = IdleBacklog({RESCANS.topic, RETRIES.topic}, REVISIT_S, self.clock)
        self.wait = FetchWait(short_ms=SHORT, long_ms=LONG)
        self.wait.reading([UPLOADS, RESCANS, RETRIES])
        self.ends: dict[TP, int] = {}
        self.fetcher = PlanningFetcher()
        consumer = cast(AIOKafkaConsumer, SimpleNamespace(_fetcher=self.fetcher))
        plan_fetches(
            consumer,
            wait_ms=self.wait.choose,
            sitting_out=self.idle.sitting_out,
            asked=self.idle.asked,
        )

    def fetch(self) -> dict[TP, int]:
        """The partitions the next planned fetch asks for, with their offsets; each one's
        answer sets its high watermark to its log's end (``ends``, 0 unless set)."""
        requests = self.fetcher._get_actions_per_node(self.assignment)[0]
        asked = {
            TP(topic, partition): offset
            for _node, request in requests
            for topic, partitions in request.topics
            for partition, offset, _max_bytes in partitions
        }
        for tp in asked:
            self.assignment.state_value(tp).highwater = self.ends.get(tp, 0)
        return asked

    def consumed(self, tp: TP, offset: int) -> None:
        """faust took tp's fetched records up to ``offset``."""
        self.assignment.state_value(tp).consumed_to(offset)


@pytest.fixture
async def worker() -> Worker:
    """Built on the test's loop: aiokafka's subscription state makes futures."""
    return Worker()


async def test_every_partition_is_asked_for_until_a_fetch_found_nothing_beyond_it(
    worker: Worker,
) -> None:
    assert worker.fetch() == {UPLOADS: 0, RESCANS: 0, RETRIES: 0}


async def test_a_backlog_partition_still_where_it_was_asked_for_sits_out(worker: Worker) -> None:
    worker.fetch()
    worker.clock.now += REVISIT_S / 2
    assert worker.fetch() == {UPLOADS: 0}


async def test_an_idle_backlog_partition_is_asked_for_again_after_the_revisit(
    worker: Worker,
) -> None:
    """The bound on how late a record on an idle backlog partition is fetched."""
    worker.fetch()
    worker.clock.now += REVISIT_S
    assert worker.fetch() == {UPLOADS: 0, RESCANS: 0, RETRIES: 0}
    worker.clock.now += REVISIT_S / 2
    assert worker.fetch() == {UPLOADS: 0}


async def test_a_backlog_partition_whose_fetch_found_records_is_asked_for_at_once(
    worker: Worker,
) -> None:
    """A rescan in progress: each of its fetches found records, which faust took meanwhile."""
    worker.ends[RESCANS] = 1000
    worker.fetch()
    worker.consumed(RESCANS, 128)
    assert worker.fetch() == {UPLOADS: 0, RESCANS: 128}
    worker.consumed(RESCANS, 256)
    assert worker.fetch() == {UPLOADS: 0, RESCANS: 256}


async def test_a_backlog_partition_whose_fetched_records_were_dropped_is_asked_for_at_once(
    worker: Worker,
) -> None:
    """faust paused the rescans topic (its agent's queue was full) and the fetched records were
    dropped: the position stayed, but the partition is not idle."""
    worker.ends[RESCANS] = 1000
    worker.fetch()
    assert worker.fetch() == {UPLOADS: 0, RESCANS: 0}


async def test_a_backlog_partition_that_caught_up_sits_out(worker: Worker) -> None:
    worker.ends[RESCANS] = 128
    worker.fetch()
    worker.consumed(RESCANS, 128)
    assert worker.fetch() == {UPLOADS: 0, RESCANS: 128}
    assert worker.fetch() == {UPLOADS: 0}


async def test_a_live_partition_never_sits_out(worker: Worker) -> None:
    for _ in range(3):
        assert UPLOADS in worker.fetch()
        worker.clock.now += REVISIT_S / 10


async def test_a_backlog_partition_sought_elsewhere_is_asked_for_at_once(worker: Worker) -> None:
    """A seek (faust's, after a rebalance) moves the position: whatever the last fetch found
    there says nothing of the new one."""
    worker.fetch()
    worker.assignment.state_value(RETRIES).seek(40)
    assert worker.fetch() == {UPLOADS: 0, RETRIES: 40}


async def test_a_backlog_partition_not_drained_never_sits_out() -> None:
    idle = IdleBacklog({RESCANS.topic}, REVISIT_S, Clock())
    idle.asked([(RESCANS, 0)])
    assert idle.sitting_out({RESCANS}, lambda tp: None) == set()  # or records beyond it


async def test_a_partition_no_longer_assigned_is_not_left_out() -> None:
    idle = IdleBacklog({RESCANS.topic}, REVISIT_S, Clock())
    idle.asked([(RESCANS, 0)])
    assert idle.sitting_out({UPLOADS}, lambda tp: 0) == set()


async def test_a_partition_sitting_out_keeps_the_fetch_wait_long(worker: Worker) -> None:
    """Sitting out is bounded by the revisit, not by the wait: a fetch without the idle
    backlog partitions may still wait long, or an idle worker would fetch every 10 ms."""
    worker.fetch()
    assert worker.fetch() == {UPLOADS: 0}
    assert worker.fetcher.waits[-1] == LONG


async def test_a_plan_that_sent_nothing_does_not_count_as_asked(worker: Worker) -> None:
    """A plan whose broker still has a fetch in flight sends nothing: a backlog partition due
    then is asked for in the next fetch that is sent, not left out for another revisit."""
    worker.fetch()
    worker.clock.now += REVISIT_S
    worker.fetcher.in_flight = True
    assert worker.fetch() == {}
    worker.fetcher.in_flight = False
    worker.clock.now += REVISIT_S / 10
    assert worker.fetch() == {UPLOADS: 0, RESCANS: 0, RETRIES: 0}
