"""The pipeline's bounds, ordering and rounds of writes, with controllable stages, no broker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import pytest

from hashgate_tools.harness.waiting import eventually
from streams.kafka.record import SourceRecord
from streams.scan import pipeline as pipeline_module
from streams.scan.pipeline import FatalScanError, ScanPipeline
from tests.support import settle

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def rec(offset: int, key: bytes | None = None, partition: int = 0) -> SourceRecord:
    return SourceRecord(
        "t", partition, offset, key if key is not None else b"k%d" % offset, b"v", (), NOW
    )


class Gate:
    """A scan whose records finish only when the test releases them; the outcome is the offset."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.running = 0
        self.peak = 0
        self.release: dict[int, asyncio.Event] = {}

    async def __call__(self, record: SourceRecord) -> int:
        self.started.append(record.offset)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.release.setdefault(record.offset, asyncio.Event()).wait()
        finally:
            self.running -= 1
        return record.offset

    def finish(self, offset: int) -> None:
        self.release.setdefault(offset, asyncio.Event()).set()


class Writes:
    """The lane's writes: each round and each outcome written alone, recorded.

    While ``hold`` is clear a round waits for it; outcomes in ``failing`` fail in their round;
    ``alone_hold`` holds the writes of single outcomes the same way.
    """

    def __init__(self) -> None:
        self.rounds: list[list[int]] = []
        self.alone: list[int] = []
        self.failing: set[int] = set()
        self.hold = asyncio.Event()
        self.hold.set()
        self.alone_hold = asyncio.Event()
        self.alone_hold.set()

    async def write_round(self, outcomes: Sequence[int]) -> list[bool]:
        self.rounds.append(list(outcomes))
        await self.hold.wait()
        return [outcome not in self.failing for outcome in outcomes]

    async def write(self, outcome: int) -> None:
        await self.alone_hold.wait()
        self.alone.append(outcome)


def pipeline_of(
    scan: Callable[[SourceRecord], Awaitable[int]],
    writes: Writes | None = None,
    *,
    max_in_flight: int,
    max_unacked: int,
) -> ScanPipeline[int]:
    writes = writes or Writes()
    return ScanPipeline(
        scan,
        writes.write_round,
        writes.write,
        max_in_flight=max_in_flight,
        max_unacked=max_unacked,
    )


async def lane_of(
    count: int, *, max_in_flight: int, max_unacked: int
) -> tuple[Gate, Writes, ScanPipeline[int], list[int]]:
    """A pipeline with records 0 to ``count - 1`` submitted (a key each), and what it acked."""
    gate, writes = Gate(), Writes()
    pipeline = pipeline_of(gate, writes, max_in_flight=max_in_flight, max_unacked=max_unacked)
    acked: list[int] = []
    for offset in range(count):
        await pipeline.submit(rec(offset), lambda o=offset: acked.append(o))
    return gate, writes, pipeline, acked


async def test_in_flight_never_exceeds_the_bound_and_submit_waits() -> None:
    gate = Gate()
    pipeline = pipeline_of(gate, max_in_flight=3, max_unacked=100)
    acked: list[int] = []
    for offset in range(3):
        assert await pipeline.submit(rec(offset), lambda o=offset: acked.append(o))
    fourth = asyncio.create_task(pipeline.submit(rec(3), lambda: acked.append(3)))
    await eventually(lambda: len(gate.started) == 3)
    assert not fourth.done()  # full: the agent stops taking records
    gate.finish(1)
    assert await asyncio.wait_for(fourth, 5)
    for offset in (0, 2, 3):
        gate.finish(offset)
    await eventually(lambda: len(acked) == 4)
    assert gate.peak == 3
    assert acked == [0, 1, 2, 3]


async def test_acks_follow_offset_order_whatever_the_completion_order() -> None:
    gate = Gate()
    pipeline = pipeline_of(gate, max_in_flight=10, max_unacked=100)
    acked: list[int] = []
    for offset in range(5):
        await pipeline.submit(rec(offset), lambda o=offset: acked.append(o))
    for offset in (4, 2, 3, 1):
        gate.finish(offset)
    await eventually(lambda: gate.running == 1)
    assert acked == []  # offset 0 still runs: nothing may be committed past it
    gate.finish(0)
    await eventually(lambda: len(acked) == 5)
    assert acked == [0, 1, 2, 3, 4]


async def test_same_key_runs_in_order_other_keys_concurrently() -> None:
    gate = Gate()
    pipeline = pipeline_of(gate, max_in_flight=10, max_unacked=100)
    for offset, key in enumerate([b"a", b"b", b"a", b"a", b"c"]):
        await pipeline.submit(rec(offset, key), lambda: None)
    await eventually(lambda: sorted(gate.started) == [0, 1, 4])
    gate.finish(0)
    await eventually(lambda: 2 in gate.started)
    assert 3 not in gate.started
    gate.finish(2)
    await eventually(lambda: 3 in gate.started)
    for offset in (1, 3, 4):
        gate.finish(offset)
    await eventually(lambda: pipeline.in_flight == 0)


@pytest.mark.parametrize("bound", [4, 300])  # 300: beyond the ints Python interns
async def test_unacked_records_are_bounded_behind_a_stuck_head(bound: int) -> None:
    gate = Gate()
    pipeline = pipeline_of(gate, max_in_flight=2, max_unacked=bound)
    for offset in range(bound):
        await pipeline.submit(rec(offset), lambda: None)
        if offset:
            gate.finish(offset)
    await eventually(lambda: pipeline.in_flight == 1)
    blocked = asyncio.create_task(pipeline.submit(rec(bound), lambda: None))
    await settle()
    assert not blocked.done() and pipeline.unacked == bound
    gate.finish(0)
    assert await asyncio.wait_for(blocked, 5)
    gate.finish(bound)


async def test_a_revoke_wakes_a_submit_waiting_behind_the_forgotten_records() -> None:
    """The broker-restart stall: the lane was full when its partition was revoked, and nothing
    else would ever have made room (the stuck records' queue is gone, so their finish acks
    nothing and signals nothing)."""
    gate = Gate()
    pipeline = pipeline_of(gate, max_in_flight=2, max_unacked=2)
    for offset in range(2):
        await pipeline.submit(rec(offset), lambda: None)
    blocked = asyncio.create_task(pipeline.submit(rec(5, partition=1), lambda: None))
    await settle()
    assert not blocked.done()
    assert pipeline.forget_partitions({("t", 0)}) == 2
    gate.finish(0)
    assert await asyncio.wait_for(blocked, 5)
    gate.finish(1)
    await eventually(lambda: pipeline.in_flight == 1)
    gate.finish(5)
    await eventually(lambda: pipeline.in_flight == 0)


async def test_a_record_that_waited_across_a_rebalance_is_neither_started_nor_acked() -> None:
    """faust reads it again from the committed offset; tracking it would put a stale offset
    ahead of those re-read records (and acking it could commit past them)."""
    gate = Gate()
    pipeline = pipeline_of(gate, max_in_flight=1, max_unacked=1)
    acked: list[int] = []
    await pipeline.submit(rec(0), lambda: acked.append(0))
    rebalanced = False
    stale = asyncio.create_task(
        pipeline.submit(rec(1), lambda: acked.append(1), lambda: not rebalanced)
    )
    await settle()
    rebalanced = True
    pipeline.forget_partitions({("t", 0)})
    gate.finish(0)
    assert await asyncio.wait_for(stale, 5), "the agent goes on"
    assert gate.started == [0] and pipeline.unacked == 0 and acked == []
    assert await pipeline.submit(rec(0), lambda: acked.append(0))  # re-read from the commit
    await eventually(lambda: acked == [0])


async def test_a_fatal_error_stops_everything_and_acks_nothing_after_it() -> None:
    async def scan(record: SourceRecord) -> int:
        if record.offset == 1:
            raise FatalScanError("bad key", record=record) from PermissionError("401")
        return record.offset

    pipeline = pipeline_of(scan, max_in_flight=1, max_unacked=10)
    acked: list[int] = []
    for offset in range(3):
        await pipeline.submit(rec(offset, b"same"), lambda o=offset: acked.append(o))
    await eventually(lambda: pipeline.in_flight == 0)
    assert acked == [0]
    assert isinstance(await asyncio.wait_for(pipeline.wait_failed(), 5), PermissionError)
    assert not await pipeline.submit(rec(9), lambda: acked.append(9))


async def test_an_unexpected_scan_bug_is_not_acked() -> None:
    async def scan(record: SourceRecord) -> int:
        raise KeyError("bug")

    pipeline = pipeline_of(scan, max_in_flight=2, max_unacked=10)
    acked: list[int] = []
    await pipeline.submit(rec(0), lambda: acked.append(0))
    fatal = await asyncio.wait_for(pipeline.wait_failed(), 5)
    assert acked == [] and isinstance(fatal, KeyError)


async def test_outcomes_scanned_while_a_round_is_written_go_out_together_in_the_next() -> None:
    gate, writes, pipeline, acked = await lane_of(4, max_in_flight=10, max_unacked=100)
    writes.hold.clear()
    gate.finish(0)
    await eventually(lambda: writes.rounds == [[0]])
    for offset in (3, 1, 2):
        gate.finish(offset)
    await eventually(lambda: gate.running == 0)
    await settle()
    assert writes.rounds == [[0]] and acked == [], "nothing is acked before its round is written"
    writes.hold.set()
    await eventually(lambda: len(acked) == 4)
    assert writes.rounds == [[0], [3, 1, 2]]
    assert acked == [0, 1, 2, 3]
    assert pipeline.in_flight == 0


async def test_a_record_waits_until_its_keys_previous_outcome_is_written_not_just_scanned() -> None:
    gate, writes = Gate(), Writes()
    pipeline = pipeline_of(gate, writes, max_in_flight=10, max_unacked=100)
    writes.hold.clear()
    for offset in range(2):
        await pipeline.submit(rec(offset, b"same"), lambda: None)
    gate.finish(0)
    await eventually(lambda: writes.rounds == [[0]])
    await settle()
    assert gate.started == [0], "a rescan must see the previous verdict (latest-verdict table)"
    writes.hold.set()
    await eventually(lambda: gate.started == [0, 1])
    gate.finish(1)
    await eventually(lambda: pipeline.in_flight == 0)


async def test_an_outcome_whose_write_failed_in_its_round_is_written_alone_before_its_ack() -> None:
    gate, writes = Gate(), Writes()
    pipeline = pipeline_of(gate, writes, max_in_flight=10, max_unacked=100)
    acked: list[int] = []
    for offset, key in enumerate([b"a", b"b", b"c", b"a"]):
        await pipeline.submit(
            rec(offset, key, partition=offset % 2), lambda o=offset: acked.append(o)
        )
    writes.failing = {0}
    writes.alone_hold.clear()
    writes.hold.clear()
    for offset in (0, 1, 2):
        gate.finish(offset)
    writes.hold.set()
    await eventually(lambda: acked == [1])
    await settle()
    assert writes.alone == [] and gate.started == [0, 1, 2], (
        "offset 2 waits behind 0 on partition 0; the next record of key a waits for 0's write"
    )
    writes.alone_hold.set()
    await eventually(lambda: acked == [1, 0, 2])
    assert writes.alone == [0]
    await eventually(lambda: 3 in gate.started)
    gate.finish(3)
    await eventually(lambda: acked == [1, 0, 2, 3])


async def test_a_round_kept_waiting_holds_up_only_its_own_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline_module, "ROUND_WAIT_S", 0.05)
    first_round = asyncio.Event()

    class FirstRoundStuck(Writes):
        async def write_round(self, outcomes: Sequence[int]) -> list[bool]:
            if not self.rounds:
                self.rounds.append(list(outcomes))
                await first_round.wait()
                return [True] * len(outcomes)
            return await super().write_round(outcomes)

    gate, writes = Gate(), FirstRoundStuck()
    pipeline = pipeline_of(gate, writes, max_in_flight=10, max_unacked=100)
    acked: list[int] = []
    await pipeline.submit(rec(0, partition=0), lambda: acked.append(0))
    await pipeline.submit(rec(1, partition=1), lambda: acked.append(1))
    gate.finish(0)
    await eventually(lambda: writes.rounds == [[0]])
    gate.finish(1)
    await eventually(lambda: acked == [1], what="the next round, written past the stuck one")
    assert writes.rounds == [[0], [1]] and pipeline.in_flight == 1
    first_round.set()
    await eventually(lambda: acked == [1, 0])
    assert pipeline.in_flight == 0


class RoundRaises(Writes):
    async def write_round(self, outcomes: Sequence[int]) -> list[bool]:
        raise KeyError("bug")


class RoundAnswersForNone(Writes):
    async def write_round(self, outcomes: Sequence[int]) -> list[bool]:
        return []


class AloneRaises(Writes):
    def __init__(self) -> None:
        super().__init__()
        self.failing = {0}  # its round fails it, so it is written alone

    async def write(self, outcome: int) -> None:
        raise KeyError("bug")


@pytest.mark.parametrize(
    ("writes", "error"),
    [(RoundRaises, KeyError), (RoundAnswersForNone, ValueError), (AloneRaises, KeyError)],
)
async def test_a_bug_while_writing_stops_the_worker_without_acking(
    writes: type[Writes], error: type[Exception]
) -> None:
    gate = Gate()
    pipeline = pipeline_of(gate, writes(), max_in_flight=2, max_unacked=10)
    acked: list[int] = []
    await pipeline.submit(rec(0), lambda: acked.append(0))
    gate.finish(0)
    fatal = await asyncio.wait_for(pipeline.wait_failed(), 5)
    assert isinstance(fatal, error) and acked == []
    assert pipeline.in_flight == 0
    assert not await pipeline.submit(rec(1), lambda: acked.append(1))


async def test_drain_waits_for_the_writes_of_scanned_records() -> None:
    gate, writes, pipeline, acked = await lane_of(2, max_in_flight=4, max_unacked=10)
    writes.hold.clear()
    gate.finish(0)
    gate.finish(1)
    await eventually(lambda: gate.running == 0)
    draining = asyncio.create_task(pipeline.drain(5))
    await settle()
    assert not draining.done(), "scanned is not written: drain waits for the round"
    writes.hold.set()
    report = await asyncio.wait_for(draining, 5)
    assert (report.finished, report.abandoned) == (2, 0)
    assert acked == [0, 1]


async def test_drain_abandons_writes_that_outlast_the_grace_period() -> None:
    gate, writes = Gate(), Writes()
    writes.failing = {1}
    writes.alone_hold.clear()
    pipeline = pipeline_of(gate, writes, max_in_flight=4, max_unacked=10)
    acked: list[int] = []
    for offset in range(3):
        await pipeline.submit(rec(offset, partition=offset), lambda o=offset: acked.append(o))
    gate.finish(0)
    gate.finish(1)
    await eventually(lambda: acked == [0])
    writes.hold.clear()
    gate.finish(2)
    await eventually(lambda: len(writes.rounds) == 2)

    report = await pipeline.drain(0.1)

    assert (report.finished, report.abandoned) == (0, 2)
    assert acked == [0] and writes.alone == []
    assert pipeline.in_flight == 0, "the cancelled writes gave their records up"


async def test_drain_lets_running_work_finish_then_abandons_the_rest() -> None:
    gate = Gate()
    pipeline = pipeline_of(gate, max_in_flight=4, max_unacked=10)
    acked: list[int] = []
    for offset in range(4):
        await pipeline.submit(rec(offset), lambda o=offset: acked.append(o))
    for offset in (0, 1, 2):
        gate.finish(offset)
    report = await pipeline.drain(0.2)
    assert (report.finished, report.abandoned) == (3, 1)
    assert acked == [0, 1, 2]
    assert gate.running == 0, "the abandoned scan was cancelled before drain returned"
    assert not await pipeline.submit(rec(5), lambda: acked.append(5))


async def test_draining_an_idle_pipeline_reports_nothing() -> None:
    pipeline = pipeline_of(Gate(), max_in_flight=2, max_unacked=2)

    report = await pipeline.drain(0.2)

    assert (report.finished, report.abandoned) == (0, 0)


def test_unacked_bound_must_cover_in_flight() -> None:
    with pytest.raises(ValueError, match="max_unacked"):
        pipeline_of(Gate(), max_in_flight=5, max_unacked=4)
    assert pipeline_of(Gate(), max_in_flight=4, max_unacked=4).unacked == 0
