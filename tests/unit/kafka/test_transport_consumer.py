"""faust's consumer in hashgate's transport, with Kafka transactions: a rebalance commits what the
agents handled before faust forgets their acks, and lets no record start until the flow stopped
(faust's commit and the app's side of the rebalance faked; no broker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from faust.types import TP, Message

from streams.kafka.app import create_app
from streams.kafka.transactions import SourcePartitionTransactions
from streams.kafka.transport import Consumer
from streams.settings import Settings, StateSettings

pytestmark = pytest.mark.unit

VERDICTS = TP("content.verdicts.match", 0)


class Rebalance:
    """What the test sees of a rebalance: the offsets committed, and faust's side of it."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.committed: list[dict[TP, int]] = []
        self.acks_when_revoked: list[list[int]] = []

    async def commit(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        self.committed.append(dict(offsets))
        return True

    async def app_revoked(self, revoked: set[TP]) -> None:
        """The app's part (faust's ``App._on_partitions_revoked``): it stops the flow."""
        self.acks_when_revoked.append(list(self.consumer._acked[VERDICTS]))
        self.consumer.app.flow_control.suspend()


@pytest.fixture
async def rebalance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rebalance]:
    app = create_app(Settings(state=StateSettings(dir=tmp_path)), exactly_once=True)
    app.in_transaction = True  # a worker's app; a test's is a client's
    app.flow_control.resume()
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    seen = Rebalance(consumer)
    monkeypatch.setattr(consumer, "assignment", lambda: {VERDICTS})
    monkeypatch.setattr(consumer.transactions, "commit", seen.commit)
    monkeypatch.setattr(consumer, "_on_partitions_revoked", seen.app_revoked)
    monkeypatch.setattr(app.topics, "acks_enabled_for", lambda topic: True)
    try:
        yield seen
    finally:
        consumer._thread.thread_loop.close()


def ack(consumer: Consumer, offset: int) -> None:
    message = Message(VERDICTS.topic, VERDICTS.partition, offset, 0.0, 0, [], b"k", b"v", None)
    consumer.ack(message)


async def test_a_rebalance_commits_the_handled_records_before_faust_forgets_their_acks(
    rebalance: Rebalance,
) -> None:
    """faust keeps the open transaction of a partition it gets back: forgotten acks meant their
    records were read again and written twice into it (a re-keyed verdict committed twice)."""
    consumer = rebalance.consumer
    gate = consumer.transactions
    assert isinstance(gate, SourcePartitionTransactions)
    ack(consumer, 5)  # handled, not committed yet
    finishing = asyncio.Event()
    started_while_flowing: list[bool] = []

    async def record_in_progress() -> None:
        async with gate.record():
            await finishing.wait()
            ack(consumer, 6)

    async def record_after() -> None:
        async with gate.record():
            started_while_flowing.append(consumer.app.flow_control.is_active())

    in_progress = asyncio.ensure_future(record_in_progress())
    await asyncio.sleep(0)
    revoking = asyncio.ensure_future(consumer.on_partitions_revoked({VERDICTS}))
    await asyncio.sleep(0.01)
    waiting = asyncio.ensure_future(record_after())
    await asyncio.sleep(0.01)
    assert rebalance.committed == [], "the record in progress has not finished yet"
    finishing.set()
    await asyncio.gather(in_progress, revoking, waiting)

    assert rebalance.committed == [{VERDICTS: 7}]  # both records, the one in progress too
    assert rebalance.acks_when_revoked == [[]]  # nothing left for faust to forget
    assert started_while_flowing == [False]  # started only once stale: it is not handled
