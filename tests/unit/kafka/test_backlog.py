"""Each poll hands out live topics' fetched records first and fills the rest from backlog topics
(streams/kafka/backlog.py), whatever order aiokafka fetched them in (no broker: aiokafka's
hand-out is replaced by one that serves fetched records in fetch order, as aiokafka does)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from streams.kafka.backlog import live_first, mark_backlog
from streams.kafka.transport import ConsumerThread
from tests.unit.kafka.faust_steps import unstarted_consumer

pytestmark = pytest.mark.unit

RESCANS = TP("rescans", 0)
UPLOADS = TP("uploads", 0)
RETRIES = TP("retries", 0)


class Fetched:
    """aiokafka's fetched records: per partition in fetch order; a poll drains them in that
    order up to ``max_records`` and waits (here: records the wait) when nothing matches.
    ``hand_out`` stands in for faust's ``_fetch_records`` as a bound method: no thread."""

    def __init__(self) -> None:
        self.records: OrderedDict[TP, list[str]] = OrderedDict()
        self.waits: list[float] = []

    def fetch(self, tp: TP, count: int) -> None:
        self.records[tp] = [f"{tp.topic}-{n}" for n in range(count)]

    async def hand_out(
        self,
        consumer: Any,
        active_partitions: set[TP],
        timeout: float | None = None,  # noqa: ASYNC109 - faust's signature
        max_records: int | None = None,
    ) -> dict[TP, list[str]]:
        drained: dict[TP, list[str]] = {}
        for tp in list(self.records):
            if tp not in active_partitions or max_records == 0:
                continue
            taken = self.records[tp][:max_records]
            self.records[tp] = self.records[tp][len(taken) :]
            if not self.records[tp]:
                del self.records[tp]
            drained[tp] = taken
            if max_records is not None:
                max_records -= len(taken)
        if not drained and timeout:
            self.waits.append(timeout)
        return drained


@pytest.fixture
async def poll(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[ConsumerThread, Fetched]]:
    fetched = Fetched()
    monkeypatch.setattr(AIOKafkaConsumerThread, "_fetch_records", fetched.hand_out)
    async with unstarted_consumer(monkeypatch, {RESCANS, UPLOADS, RETRIES}) as consumer:
        mark_backlog(consumer.app, RESCANS.topic)
        mark_backlog(consumer.app, RETRIES.topic)
        thread = consumer._thread
        assert isinstance(thread, ConsumerThread)
        yield thread, fetched


def counts(records: Mapping[TP, Sequence[object]]) -> list[tuple[str, int]]:
    return [(tp.topic, len(part)) for tp, part in records.items()]


async def test_live_records_fetched_after_a_backlog_come_first_and_the_backlog_fills_the_rest(
    poll: tuple[ConsumerThread, Fetched],
) -> None:
    """aiokafka alone would hand out 50 rescans and keep the uploads for a later poll."""
    thread, fetched = poll
    fetched.fetch(RESCANS, 1000)
    fetched.fetch(UPLOADS, 8)
    records = await thread._fetch_records(None, {RESCANS, UPLOADS, RETRIES}, 1.0, 50)
    assert counts(records) == [("uploads", 8), ("rescans", 42)]


async def test_a_full_poll_of_live_records_leaves_the_backlog_for_the_next(
    poll: tuple[ConsumerThread, Fetched],
) -> None:
    thread, fetched = poll
    fetched.fetch(RESCANS, 1000)
    fetched.fetch(UPLOADS, 70)
    active = {RESCANS, UPLOADS, RETRIES}
    assert counts(await thread._fetch_records(None, active, 1.0, 50)) == [("uploads", 50)]
    assert counts(await thread._fetch_records(None, active, 1.0, 50)) == [
        ("uploads", 20),
        ("rescans", 30),
    ]


async def test_without_live_records_the_backlog_has_the_whole_poll(
    poll: tuple[ConsumerThread, Fetched],
) -> None:
    thread, fetched = poll
    fetched.fetch(RETRIES, 3)
    fetched.fetch(RESCANS, 1000)
    records = await thread._fetch_records(None, {RESCANS, UPLOADS, RETRIES}, 1.0, 50)
    assert counts(records) == [("retries", 3), ("rescans", 47)]
    assert fetched.waits == [], "records were in hand: no wait for a fetch"


async def test_with_nothing_fetched_the_poll_waits_for_any_partition(
    poll: tuple[ConsumerThread, Fetched],
) -> None:
    thread, fetched = poll
    assert await thread._fetch_records(None, {RESCANS, UPLOADS}, 1.0, 50) == {}
    assert fetched.waits == [1.0]


def test_partitions_split_by_topic() -> None:
    first, backlog = live_first({RESCANS, UPLOADS, TP("rescans", 1)}, {"rescans", "retries"})
    assert first == {UPLOADS}
    assert backlog == {RESCANS, TP("rescans", 1)}
