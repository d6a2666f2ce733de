"""A recovery whose changelogs end in transaction markers ends once the consumer has fetched
past their end and nothing more arrives, and not before (streams/kafka/recovery.py)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka.errors import IllegalStateError
from faust.types import TP

from hashgate_tools.harness.waiting import eventually
from streams.kafka import recovery as recovery_module
from streams.kafka.recovery import MarkerAwareRecovery, all_read_past, short_of_the_end

pytestmark = pytest.mark.unit

SEEN = ("app-seen-changelog", 0)
COUNTS = ("app-counts-changelog", 0)


def tp(name: str, partition: int) -> TP:
    return TP(name, partition)


def test_a_partition_is_short_of_its_end_until_its_last_offset_is_read() -> None:
    highwaters = {tp(*SEEN): 9, tp(*COUNTS): 4, tp("empty", 0): -1, tp("unknown", 0): None}
    offsets = {tp(*SEEN): 7, tp(*COUNTS): 4, tp("empty", 0): -1, tp("unknown", 0): 3}
    assert short_of_the_end(highwaters, offsets) == {tp(*SEEN): 9}
    assert short_of_the_end({tp(*SEEN): 9}, {tp(*SEEN): 0}) == {tp(*SEEN): 9}  # 0 is an offset
    assert short_of_the_end({tp(*SEEN): 9}, {tp(*SEEN): None}) == {}  # not sought yet: faust's


async def test_read_past_means_fetched_beyond_the_last_offset_of_every_partition() -> None:
    short = {tp(*SEEN): 9, tp(*COUNTS): 4}

    def positions(**at: int | None) -> Callable[[TP], Awaitable[int | None]]:
        async def position(partition: TP) -> int | None:
            return at[partition.topic.split("-")[1]]

        return position

    assert await all_read_past(short, positions(seen=10, counts=5))
    assert not await all_read_past(short, positions(seen=9, counts=5))
    assert not await all_read_past(short, positions(seen=10, counts=None))


@dataclass
class Consumer:
    """Where the fake consumer has fetched to, per partition, and how often it was asked."""

    positions: dict[TP, int] = field(default_factory=dict)
    asked: int = 0

    async def position(self, partition: TP) -> int | None:
        self.asked += 1
        if partition not in self.positions:
            raise IllegalStateError(f"Partition {partition} is not assigned")  # as aiokafka's
        return self.positions[partition]


class Recovering(MarkerAwareRecovery):
    """A recovery of one partition, last offset 9, read to 7 (8 and 9 never come), whose
    watcher counts its polls and runs ``on_poll`` before each."""

    def __init__(self) -> None:
        self.consumer = Consumer()
        app = SimpleNamespace(
            conf=SimpleNamespace(stream_recovery_delay=0), in_recovery=False, consumer=self.consumer
        )
        tables = SimpleNamespace(changelog_queue=asyncio.Queue())
        super().__init__(cast(Any, app), cast(Any, tables))
        self.active_highwaters = Counter({tp(*SEEN): 9})
        self.active_offsets = Counter({tp(*SEEN): 7})
        self.polls = 0
        self.on_poll: Callable[[], None] = lambda: None

    async def sleep(self, n: float | timedelta | str) -> None:
        self.polls += 1
        self.on_poll()
        assert isinstance(n, float)
        await asyncio.sleep(n)

    @property
    def queue(self) -> asyncio.Queue[str]:
        return cast(asyncio.Queue[str], self.tables.changelog_queue)


#: Polls within the quiet time, at the fixture's speed.
POLLS_QUIET = 10


@pytest.fixture
async def recovering(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Recovering]:
    monkeypatch.setattr(recovery_module, "POLL_S", 0.005)
    monkeypatch.setattr(recovery_module, "QUIET_S", 0.005 * POLLS_QUIET)
    recovery = Recovering()
    recovery._set_recovery_started()
    watcher = asyncio.create_task(MarkerAwareRecovery._end_after_markers(recovery))
    yield recovery
    watcher.cancel()


async def test_fetched_past_the_end_and_quiet_ends_the_recovery(recovering: Recovering) -> None:
    recovering.consumer.positions[tp(*SEEN)] = 10
    await asyncio.wait_for(recovering.signal_recovery_end.wait(), timeout=5)
    assert recovering.polls >= POLLS_QUIET, "ended only after the quiet time"
    assert not recovering.in_recovery
    assert recovering.active_offsets[tp(*SEEN)] == 9
    assert not recovering.need_recovery()


async def test_a_partition_taken_by_a_rebalance_keeps_it_recovering(recovering: Recovering) -> None:
    """Its next owner, or this instance's next recovery, reads it: nothing ends here."""
    await eventually(lambda: recovering.consumer.asked >= 5, within=5, what="the watcher asking")
    assert recovering.in_recovery


async def test_records_still_to_fetch_keep_it_recovering(recovering: Recovering) -> None:
    consumer = recovering.consumer
    consumer.positions[tp(*SEEN)] = 9  # offset 9 not fetched yet: it may be a record
    await eventually(lambda: consumer.asked >= 5, within=5, what="the watcher asking")
    assert recovering.in_recovery
    assert not recovering.signal_recovery_end.is_set()


async def test_a_record_waiting_in_the_queue_keeps_it_recovering(recovering: Recovering) -> None:
    recovering.consumer.positions[tp(*SEEN)] = 10
    recovering.queue.put_nowait("offset 8's record")
    await eventually(lambda: recovering.polls > 3 * POLLS_QUIET, within=5, what="3 quiet times")
    assert recovering.consumer.asked == 0
    assert recovering.in_recovery
    recovering.queue.get_nowait()  # faust takes it: the watcher may end the recovery now
    await asyncio.wait_for(recovering.signal_recovery_end.wait(), timeout=5)


async def test_records_still_arriving_keep_it_recovering(recovering: Recovering) -> None:
    recovering.active_highwaters[tp(*SEEN)] = 99
    recovering.consumer.positions[tp(*SEEN)] = 100
    read = iter(range(8, 8 + 3 * POLLS_QUIET))

    def one_more_record() -> None:
        if (offset := next(read, None)) is not None:
            recovering.active_offsets[tp(*SEEN)] = offset

    recovering.on_poll = one_more_record  # a record every poll: never quiet for QUIET_S
    await eventually(lambda: recovering.polls > 3 * POLLS_QUIET, within=5, what="3 quiet times")
    assert recovering.in_recovery
    await asyncio.wait_for(recovering.signal_recovery_end.wait(), timeout=5)
    assert recovering.active_offsets[tp(*SEEN)] == 99
