"""Stream partitions deliver nothing between faust resuming them and the end of its seek, a
stream partition never committed is sought to its beginning, and the consumer thread never asks
aiokafka for "no partition" (which aiokafka reads as all)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaFaustConsumer
from faust.types import TP

from streams.kafka.seek_first import SeekFirstConsumer
from streams.kafka.transport import ConsumerThread
from tests.unit.kafka.faust_steps import seek_without_broker, unstarted_consumer

pytestmark = pytest.mark.unit

UPLOADS = {TP("uploads", p) for p in range(2)}
CHANGELOG = {TP("latest-changelog", p) for p in range(2)}


@pytest.fixture
async def consumer(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SeekFirstConsumer]:
    async with unstarted_consumer(monkeypatch, UPLOADS | CHANGELOG) as consumer:
        assert isinstance(consumer, SeekFirstConsumer)
        monkeypatch.setattr(consumer, "_is_changelog_tp", lambda tp: tp in CHANGELOG)
        consumer.pause_partitions(UPLOADS | CHANGELOG)  # faust, on the assignment
        yield consumer


async def test_stream_partitions_deliver_only_after_the_seek_and_the_flow_resumed(
    consumer: SeekFirstConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeks = seek_without_broker(monkeypatch)
    consumer.resume_partitions(CHANGELOG)  # recovery reads the changelogs first
    assert consumer._get_active_partitions() == CHANGELOG
    consumer.pause_partitions(CHANGELOG)

    consumer.resume_partitions(UPLOADS)
    assert consumer._get_active_partitions() == set(), "nothing before the seek"
    consumer.resume_flow()  # faust also resumes the flow while recovering: still nothing
    assert consumer._get_active_partitions() == set()
    await consumer.perform_seek()
    assert seeks == ["seek"] and consumer._get_active_partitions() == set()
    consumer.app.flow_control.resume()  # clears the agents' queues
    consumer.resume_flow()
    assert consumer._get_active_partitions() == UPLOADS


async def test_a_rebalance_before_the_seek_ends_leaves_them_paused(
    consumer: SeekFirstConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seek_without_broker(monkeypatch)
    consumer.resume_partitions(UPLOADS)
    await consumer.on_partitions_revoked(UPLOADS)  # the seek was cut short: RebalanceAgain
    consumer.resume_flow()
    assert consumer._get_active_partitions() == set()
    consumer.resume_partitions(UPLOADS)  # the next generation's recovery
    await consumer.perform_seek()
    consumer.resume_flow()
    assert consumer._get_active_partitions() == UPLOADS


def _seeks_to(
    monkeypatch: pytest.MonkeyPatch, committed: Mapping[TP, int | None]
) -> list[dict[TP, int]]:
    """faust's seek to ``committed`` without a broker; returns the seeks made after it."""
    sought: list[dict[TP, int]] = []

    async def seek_to_committed(self: AIOKafkaFaustConsumer) -> Mapping[TP, int | None]:
        return committed

    async def seek_wait(self: AIOKafkaFaustConsumer, partitions: Mapping[TP, int]) -> None:
        sought.append(dict(partitions))

    monkeypatch.setattr(AIOKafkaFaustConsumer, "seek_to_committed", seek_to_committed)
    monkeypatch.setattr(AIOKafkaFaustConsumer, "seek_wait", seek_wait)
    return sought


@pytest.mark.parametrize("never", [None, 0], ids=["no commit", "committed 0"])
async def test_a_stream_partition_never_committed_is_read_again_from_its_beginning(
    consumer: SeekFirstConsumer, monkeypatch: pytest.MonkeyPatch, never: int | None
) -> None:
    """aiokafka's seek_to_committed leaves it at its fetch position, which can be past records
    fetched and never delivered; faust would deliver from there and commit past them."""
    uploads_0, uploads_1 = sorted(UPLOADS)
    changelog_0, changelog_1 = sorted(CHANGELOG)
    sought = _seeks_to(
        monkeypatch, {uploads_0: never, uploads_1: 311, changelog_0: None, changelog_1: 7}
    )
    await consumer.perform_seek()
    assert sought == [{uploads_0: 0}], "a changelog is recovery's; a committed one stays put"


async def test_committed_stream_partitions_are_not_sought_again(
    consumer: SeekFirstConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sought = _seeks_to(monkeypatch, dict.fromkeys(UPLOADS, 5) | dict.fromkeys(CHANGELOG))
    await consumer.perform_seek()
    assert sought == []


async def test_the_thread_asks_aiokafka_for_a_fixed_copy_and_never_for_an_empty_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[set[TP] | None] = []

    async def getmany(
        self: AIOKafkaConsumerThread,
        partitions: set[TP] | None,
        timeout: float,  # noqa: ASYNC109 - faust's signature
    ) -> dict[TP, list[object]]:
        asked.append(partitions)
        return {}

    monkeypatch.setattr(AIOKafkaConsumerThread, "getmany", getmany)
    async with unstarted_consumer(monkeypatch, UPLOADS) as consumer:
        thread = consumer._thread
        assert isinstance(thread, ConsumerThread)
        live = set(UPLOADS)
        await thread.getmany(live, 1.0)
        live.clear()  # faust pauses its last partition while aiokafka still waits
        assert asked == [UPLOADS] and asked[0] is not live
        await thread.getmany(live, 1.0)
        assert asked == [UPLOADS], "an empty set would have fetched every partition"
