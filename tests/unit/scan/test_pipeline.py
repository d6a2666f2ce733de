"""The pipeline's bounds and ordering, with a controllable handler and no broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from hashgate_tools.harness.waiting import eventually
from streams.kafka.record import SourceRecord
from streams.scan.pipeline import FatalScanError, ScanPipeline
from tests.support import settle

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def rec(offset: int, key: bytes | None = None, partition: int = 0) -> SourceRecord:
    return SourceRecord(
        "t", partition, offset, key if key is not None else b"k%d" % offset, b"v", (), NOW
    )


class Gate:
    """A handler whose records finish only when the test releases them."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.running = 0
        self.peak = 0
        self.release: dict[int, asyncio.Event] = {}

    async def __call__(self, record: SourceRecord) -> None:
        self.started.append(record.offset)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.release.setdefault(record.offset, asyncio.Event()).wait()
        finally:
            self.running -= 1

    def finish(self, offset: int) -> None:
        self.release.setdefault(offset, asyncio.Event()).set()


async def test_in_flight_never_exceeds_the_bound_and_submit_waits() -> None:
    gate = Gate()
    pipeline = ScanPipeline(gate, max_in_flight=3, max_unacked=100)
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
    pipeline = ScanPipeline(gate, max_in_flight=10, max_unacked=100)
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
    pipeline = ScanPipeline(gate, max_in_flight=10, max_unacked=100)
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
    pipeline = ScanPipeline(gate, max_in_flight=2, max_unacked=bound)
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
    pipeline = ScanPipeline(gate, max_in_flight=2, max_unacked=2)
    for offset in range(2):
        await pipeline.submit(rec(offset), lambda: None)
    blocked = asyncio.create_task(pipeline.submit(rec(0, partition=1), lambda: None))
    await settle()
    assert not blocked.done()
    assert pipeline.forget_partitions({("t", 0)}) == 2
    gate.finish(0)
    assert await asyncio.wait_for(blocked, 5)
    gate.finish(1)
    await eventually(lambda: pipeline.in_flight == 1)
    gate.finish(0)


async def test_a_record_that_waited_across_a_rebalance_is_neither_started_nor_acked() -> None:
    """faust reads it again from the committed offset; tracking it would put a stale offset
    ahead of those re-read records (and acking it could commit past them)."""
    gate = Gate()
    pipeline = ScanPipeline(gate, max_in_flight=1, max_unacked=1)
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
    async def handler(record: SourceRecord) -> None:
        if record.offset == 1:
            raise FatalScanError("bad key", record=record) from PermissionError("401")

    pipeline = ScanPipeline(handler, max_in_flight=1, max_unacked=10)
    acked: list[int] = []
    for offset in range(3):
        await pipeline.submit(rec(offset, b"same"), lambda o=offset: acked.append(o))
    await eventually(lambda: pipeline.in_flight == 0)
    assert acked == [0]
    assert isinstance(await asyncio.wait_for(pipeline.wait_failed(), 5), PermissionError)
    assert not await pipeline.submit(rec(9), lambda: acked.append(9))


async def test_an_unexpected_handler_bug_is_not_acked() -> None:
    async def handler(record: SourceRecord) -> None:
        raise KeyError("bug")

    pipeline = ScanPipeline(handler, max_in_flight=2, max_unacked=10)
    acked: list[int] = []
    await pipeline.submit(rec(0), lambda: acked.append(0))
    fatal = await asyncio.wait_for(pipeline.wait_failed(), 5)
    assert acked == [] and isinstance(fatal, KeyError)


async def test_drain_lets_running_work_finish_then_abandons_the_rest() -> None:
    gate = Gate()
    pipeline = ScanPipeline(gate, max_in_flight=4, max_unacked=10)
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
    pipeline = ScanPipeline(Gate(), max_in_flight=2, max_unacked=2)

    report = await pipeline.drain(0.2)

    assert (report.finished, report.abandoned) == (0, 0)


def test_unacked_bound_must_cover_in_flight() -> None:
    with pytest.raises(ValueError, match="max_unacked"):
        ScanPipeline(Gate(), max_in_flight=5, max_unacked=4)
    assert ScanPipeline(Gate(), max_in_flight=4, max_unacked=4).unacked == 0
