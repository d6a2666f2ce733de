"""Each poll hands out live topics' fetched records first and fills the rest from backlog topics
(streams/kafka/backlog.py), whatever order aiokafka fetched them in. No broker: faust's
``_fetch_records`` is replaced by aiokafka's hand-out, which drains the fetcher's ordered
partitions up to the poll's size."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from streams.kafka.backlog import mark_backlog
from streams.kafka.transport import ConsumerThread
from tests.unit.kafka.faust_steps import unstarted_consumer

pytestmark = pytest.mark.unit

RESCANS = TP("rescans", 0)
UPLOADS = TP("uploads", 0)
RETRIES = TP("retries", 0)
ACTIVE = {RESCANS, UPLOADS, RETRIES}


class Fetched:
    """aiokafka's fetcher as far as a poll sees it: fetched records per partition, in the
    order they were fetched (``_records``), and a hand-out in that order up to a poll's size."""

    def __init__(self) -> None:
        self._records: OrderedDict[TP, list[str]] = OrderedDict()
        self._fetch_max_wait_ms = 1500

    def _get_actions_per_node(self, assignment: object) -> None:
        """Where the transport sets each fetch's wait (fetch_wait.py); nothing fetches here."""

    def fetch(self, tp: TP, count: int) -> None:
        self._records[tp] = [f"{tp.topic}-{n}" for n in range(count)]

    async def hand_out(
        self,
        consumer: Any,
        active_partitions: set[TP],
        timeout: float | None = None,  # noqa: ASYNC109 - faust's signature
        max_records: int = 50,
    ) -> dict[TP, list[str]]:
        """Stands in for faust's ``_fetch_records`` as a bound method (so: no thread)."""
        drained: dict[TP, list[str]] = {}
        for tp in list(self._records):
            if tp not in active_partitions or max_records == 0:
                continue
            drained[tp], self._records[tp] = (
                self._records[tp][:max_records],
                self._records[tp][max_records:],
            )
            max_records -= len(drained[tp])
            if not self._records[tp]:
                del self._records[tp]
        return drained


@pytest.fixture
async def poll(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[ConsumerThread, Fetched]]:
    fetched = Fetched()
    monkeypatch.setattr(AIOKafkaConsumerThread, "_fetch_records", fetched.hand_out)
    async with unstarted_consumer(monkeypatch, ACTIVE) as consumer:
        mark_backlog(consumer.app, RESCANS.topic)
        mark_backlog(consumer.app, RETRIES.topic)
        thread = consumer._thread
        assert isinstance(thread, ConsumerThread)
        yield thread, fetched


async def handed_out(thread: ConsumerThread, fetched: Fetched) -> list[tuple[str, int]]:
    """One poll of 50: (topic, records) in the order handed out."""
    aiokafka_consumer = SimpleNamespace(_fetcher=fetched)
    records: Mapping[TP, Sequence[object]] = await thread._fetch_records(
        aiokafka_consumer, ACTIVE, 1.0, 50
    )
    return [(tp.topic, len(part)) for tp, part in records.items()]


@pytest.mark.parametrize(
    ("fetched_in_order", "first_poll"),
    [
        pytest.param(  # aiokafka alone would hand out 50 rescans, the uploads in a later poll
            [(RESCANS, 1000), (UPLOADS, 8)],
            [("uploads", 8), ("rescans", 42)],
            id="live records fetched after a backlog come first, the backlog fills the rest",
        ),
        pytest.param(
            [(RETRIES, 3), (RESCANS, 1000)],
            [("retries", 3), ("rescans", 47)],
            id="without live records the backlog has the whole poll",
        ),
    ],
)
async def test_a_poll_hands_out_live_records_first(
    poll: tuple[ConsumerThread, Fetched],
    fetched_in_order: list[tuple[TP, int]],
    first_poll: list[tuple[str, int]],
) -> None:
    thread, fetched = poll
    for tp, count in fetched_in_order:
        fetched.fetch(tp, count)
    assert await handed_out(thread, fetched) == first_poll


async def test_a_full_poll_of_live_records_leaves_the_backlog_for_the_next(
    poll: tuple[ConsumerThread, Fetched],
) -> None:
    thread, fetched = poll
    fetched.fetch(RESCANS, 1000)
    fetched.fetch(UPLOADS, 70)
    assert await handed_out(thread, fetched) == [("uploads", 50)]
    assert await handed_out(thread, fetched) == [("uploads", 20), ("rescans", 30)]
    assert await handed_out(thread, fetched) == [("rescans", 50)]
