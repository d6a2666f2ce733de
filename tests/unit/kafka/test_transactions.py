"""Kafka transactions per source partition: which transaction a write joins, and a commit that
runs only between records, once the table writes are in (faust's producer faked)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import ProducerFenced
from faust.exceptions import ProducerSendError
from faust.types import TP

from streams.kafka import transactions
from streams.kafka.transactions import (
    OUTSIDE_TRANSACTIONS,
    RecordGate,
    SourcePartitionTransactions,
    between_records,
)

pytestmark = pytest.mark.unit


class Client:
    def __init__(self) -> None:
        self.topics: list[str] = []

    def add_topic(self, topic: str) -> None:
        self.topics.append(topic)


class Producer:
    """faust's aiokafka producer as the transaction manager uses it."""

    def __init__(self, tids: list[str]) -> None:
        self._transaction_producers = {tid: SimpleNamespace(client=Client()) for tid in tids}
        self.sent: list[tuple[str, int | None, str | None]] = []
        self.committed: list[dict[str, Mapping[TP, int]]] = []
        self.settled_calls = 0

    async def send(
        self,
        topic: str,
        key: Any,
        value: Any,
        partition: int | None,
        *_: Any,
        transactional_id: str | None = None,
    ) -> Any:
        self.sent.append((topic, partition, transactional_id))
        return asyncio.get_running_loop().create_future()

    async def commit_transactions(
        self, by_tid: dict[str, Mapping[TP, int]], group_id: str, start_new_transaction: bool
    ) -> None:
        self.committed.append(dict(by_tid))

    async def settled(self) -> None:
        self.settled_calls += 1


def manager(producer: Producer) -> SourcePartitionTransactions:
    app = SimpleNamespace(
        conf=SimpleNamespace(id="hashgate-stats"),
        assignor=SimpleNamespace(group_for_topic=lambda topic: 0),
        producer=producer,
    )
    return SourcePartitionTransactions(SimpleNamespace(app=app), consumer=None, producer=producer)


@pytest.fixture
def handling(monkeypatch: pytest.MonkeyPatch) -> Any:
    def during(tp: TP | None) -> None:
        event = None if tp is None else SimpleNamespace(message=SimpleNamespace(tp=tp))
        monkeypatch.setattr(transactions, "current_event", lambda: event)

    return during


async def test_a_write_joins_the_transaction_of_the_source_partition_handled(
    handling: Any,
) -> None:
    producer = Producer(["hashgate-stats-0-3"])
    handling(TP("content.verdicts.match", 3))
    await manager(producer).send("moderation.actions", b"content-9", b"{}", None, None, None)
    # faust would pick the actions topic's partition for the key, or no transaction at all
    assert producer.sent == [("moderation.actions", None, "hashgate-stats-0-3")]
    tracked = producer._transaction_producers["hashgate-stats-0-3"].client.topics
    assert tracked == ["moderation.actions"]  # its own client tracks what it writes


async def test_a_changelog_write_joins_the_transaction_of_its_partition(handling: Any) -> None:
    producer = Producer(["hashgate-stats-0-1"])
    handling(None)  # faust's producer buffer sends it later, from its own task
    await manager(producer).send("hashgate-stats-seen-changelog", b"k", b"v", 1, None, None)
    assert producer.sent == [("hashgate-stats-seen-changelog", 1, "hashgate-stats-0-1")]


async def test_a_write_outside_any_record_is_sent_without_a_transaction_only_when_marked(
    handling: Any,
) -> None:
    producer = Producer([])
    handling(None)
    token = OUTSIDE_TRANSACTIONS.set(True)
    try:
        await manager(producer).send("changelog", b"k", None, 2, None, None)
    finally:
        OUTSIDE_TRANSACTIONS.reset(token)
    assert producer.sent == [("changelog", 2, None)]
    with pytest.raises(ProducerSendError):
        await manager(producer).send("moderation.actions", b"k", b"v", None, None, None)


async def test_the_consumer_picks_offsets_only_once_no_record_is_in_progress() -> None:
    """Taken inside ``commit``, the gate came too late: faust had picked the offsets already, so
    a record acked while the commit waited had its writes committed without its offset."""
    producer = Producer(["hashgate-stats-0-0"])
    transactions_ = manager(producer)
    consumer = SimpleNamespace(in_transaction=True, transactions=transactions_)
    picked: list[str] = []

    async def faust_commit() -> None:
        async with between_records(consumer):
            picked.append("offsets picked")

    async with transactions_.record():
        committing = asyncio.ensure_future(faust_commit())
        await asyncio.sleep(0.01)
        assert picked == []  # mid-record: faust has not looked at the acks yet
        picked.append("record acked")
    await committing
    assert picked == ["record acked", "offsets picked"]


async def test_a_commit_waits_for_the_table_writes_then_commits_each_transaction() -> None:
    producer = Producer(["hashgate-stats-0-0"])
    offsets = {TP("content.verdicts.match", 0): 10}
    assert await manager(producer).commit(offsets)
    assert producer.settled_calls == 1
    assert producer.committed == [{"hashgate-stats-0-0": offsets}]


async def test_a_commit_for_a_transaction_without_its_producer_raises() -> None:
    """faust would log it and go on: the stores would keep changes Kafka never took."""
    producer = Producer([])
    with pytest.raises(ProducerFenced):
        await manager(producer).commit({TP("content.verdicts.match", 0): 10})
    assert producer.committed == []


async def test_once_a_record_was_cut_off_nothing_commits_any_more() -> None:
    """A cancelled record (a stop) may have written without its ack: its partition's
    transaction, and every other, is left to abort."""
    producer = Producer(["hashgate-stats-0-0"])
    transactions = manager(producer)

    async def record() -> None:
        async with transactions.record():
            await asyncio.sleep(3600)

    handling = asyncio.ensure_future(record())
    await asyncio.sleep(0.01)
    handling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handling

    assert not await transactions.commit({TP("content.verdicts.match", 0): 10})
    assert producer.committed == []


async def test_records_wait_while_a_commit_runs() -> None:
    gate = RecordGate()
    order: list[str] = []
    release = asyncio.Event()

    async def commit() -> None:
        async with gate.between_records():
            order.append("commit")
            await release.wait()

    async def record() -> None:
        async with gate.record():
            order.append("record")

    committing = asyncio.ensure_future(commit())
    await asyncio.sleep(0)
    handling = asyncio.ensure_future(record())
    await asyncio.sleep(0.01)
    assert order == ["commit"]
    release.set()
    await asyncio.gather(committing, handling)
    assert order == ["commit", "record"]


async def test_records_stay_out_until_the_last_of_two_overlapping_commits_ends() -> None:
    """The timer's commit and a rebalance's may overlap: the first to end must not let records
    in while the other still runs."""
    gate = RecordGate()
    timer_done, rebalance_done = asyncio.Event(), asyncio.Event()
    handled: list[str] = []

    async def commit(done: asyncio.Event) -> None:
        async with gate.between_records():
            await done.wait()

    async def record() -> None:
        async with gate.record():
            handled.append("record")

    timer = asyncio.ensure_future(commit(timer_done))
    rebalance = asyncio.ensure_future(commit(rebalance_done))
    await asyncio.sleep(0.01)
    handling = asyncio.ensure_future(record())
    timer_done.set()
    await timer
    await asyncio.sleep(0.01)
    assert handled == [], "the rebalance's commit still runs"
    rebalance_done.set()
    await asyncio.gather(rebalance, handling)
    assert handled == ["record"]
