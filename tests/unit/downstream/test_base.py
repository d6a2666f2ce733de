"""The shared downstream loop: nothing is skipped, nothing is handled twice, bad input is kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from faust.types import StreamT

from streams.downstream.base import DownstreamLoop, VerdictSink
from streams.downstream.metrics import DownstreamMetrics
from streams.downstream.store import SeenStore
from streams.errors import (
    AuthenticationError,
    BackpressureError,
    MediaError,
    ReasonCode,
    TransientError,
)
from streams.events import ScanError, Verdict
from streams.kafka.record import SourceRecord
from streams.kafka.transactions import RecordGate
from tests.support import (
    NOW,
    RecordingWriter,
    Sleeps,
    agent_writer_of,
    make_verdict,
    record_of,
)

pytestmark = pytest.mark.unit

DLQ = "downstream.errors"


class ScriptedSink(VerdictSink):
    """Raises the scripted errors in turn, then records the verdict as handled."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.handled: list[str] = []

    async def handle_match(self, verdict: Verdict, source: SourceRecord) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        self.handled.append(verdict.verdict_id)


class Harness:
    def __init__(self, sink: ScriptedSink) -> None:
        self.publisher = RecordingWriter()
        self.sleeps = Sleeps()
        self.seen_table: dict[str, str] = {}
        self.fatal: list[BaseException] = []
        self.metrics = DownstreamMetrics()
        self.loop = DownstreamLoop(
            "test",
            sink,
            writer=agent_writer_of(self.publisher),
            dlq_topic=DLQ,
            metrics=self.metrics,
            on_fatal=self._on_fatal,
            seen=SeenStore(self.seen_table, clock=lambda: NOW),
            backoff=self.sleeps.policy(),
            clock=lambda: NOW,
        )

    async def _on_fatal(self, exc: BaseException) -> None:
        self.fatal.append(exc)

    def dlq(self) -> list[ScanError]:
        return [ScanError.decode(v) for v in self.publisher.on(DLQ)]

    def count(self, result: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "hashgate_downstream_records_total", {"agent": "test", "result": result}
        )
        return value or 0.0


async def test_a_verdict_is_handled_once_however_often_it_is_replayed() -> None:
    sink = ScriptedSink()
    h = Harness(sink)
    verdict = make_verdict()

    for offset in range(3):
        assert await h.loop.process(record_of(verdict, offset=offset))

    assert sink.handled == [verdict.verdict_id]
    assert verdict.verdict_id in h.seen_table
    assert h.count("duplicate") == 2


async def test_poison_bytes_go_to_the_dlq_intact_and_the_stream_goes_on() -> None:
    h = Harness(ScriptedSink())
    poison = b'{"schema_version": 1, "verdict": "match"'

    assert await h.loop.process(record_of(poison, key=b"k-1", offset=7))
    assert await h.loop.process(record_of(make_verdict(), offset=8))

    (error,) = h.dlq()
    assert error.reason is ReasonCode.UNDECODABLE
    assert (error.value, error.key) == (poison, b"k-1")
    assert (error.source_topic, error.source_partition, error.source_offset) == (
        "content.verdicts.match",
        2,
        7,
    )
    assert h.count("handled") == 1 and h.count("dead_lettered") == 1


async def test_a_clear_verdict_on_the_match_topic_is_refused_not_acted_on() -> None:
    sink = ScriptedSink()
    h = Harness(sink)
    clear = make_verdict(is_match=False)

    assert await h.loop.process(record_of(clear))

    assert sink.handled == []
    (error,) = h.dlq()
    assert error.reason is ReasonCode.INVALID_EVENT
    assert (error.content_id, error.tenant, error.event_id) == ("content-1", "acme", "evt-1")


async def test_a_refused_item_is_not_marked_seen_so_a_replay_after_a_fix_is_handled() -> None:
    sink = ScriptedSink(MediaError("gone", reason=ReasonCode.MEDIA_UNREACHABLE))
    h = Harness(sink)
    verdict = make_verdict()

    assert await h.loop.process(record_of(verdict))
    assert await h.loop.process(record_of(verdict))

    assert [e.reason for e in h.dlq()] == [ReasonCode.MEDIA_UNREACHABLE]
    assert sink.handled == [verdict.verdict_id]


async def test_backpressure_holds_the_item_and_hands_it_over_again() -> None:
    sink = ScriptedSink(
        BackpressureError("NCMEC busy", retry_after=42.0), TransientError("timeout")
    )
    h = Harness(sink)

    assert await h.loop.process(record_of(make_verdict()))

    assert sink.calls == 3 and len(sink.handled) == 1
    assert h.sleeps.waits[0] == 42.0 and len(h.sleeps.waits) == 2
    assert h.dlq() == []


async def test_a_configuration_error_stops_the_agent_without_finishing_the_record() -> None:
    sink = ScriptedSink(AuthenticationError("key refused", status_code=401))
    h = Harness(sink)
    verdict = make_verdict()

    assert not await h.loop.process(record_of(verdict))

    assert isinstance(h.fatal[0], AuthenticationError)
    assert verdict.verdict_id not in h.seen_table
    assert h.dlq() == []


async def test_an_unplanned_exception_stops_the_agent_rather_than_skip_the_record() -> None:
    sink = ScriptedSink(KeyError("bug"))
    h = Harness(sink)
    verdict = make_verdict()

    assert not await h.loop.process(record_of(verdict))

    assert isinstance(h.fatal[0], KeyError)
    assert verdict.verdict_id not in h.seen_table


class BrokenTable(dict[str, str]):
    """A table whose write fails, as faust's does when its changelog topic is not known yet."""

    def __setitem__(self, key: str, value: str) -> None:
        raise RuntimeError("PartitionsMismatch")


async def test_a_failing_table_write_stops_the_agent_instead_of_raising_into_faust() -> None:
    # An exception out of process() would reach faust, which acks the record and restarts
    # the agent: the record would be skipped.
    h = Harness(ScriptedSink())
    h.loop.seen = SeenStore(BrokenTable(), clock=lambda: NOW)

    assert not await h.loop.process(record_of(make_verdict()))

    assert isinstance(h.fatal[0], RuntimeError)


async def test_a_failed_write_is_retried_until_kafka_confirms_it() -> None:
    h = Harness(ScriptedSink())
    h.publisher.failures = 3

    assert await h.loop.process(record_of(b"not json"))

    assert len(h.dlq()) == 1


class Flow:
    """faust's flow control: suspended when a rebalance begins."""

    def __init__(self) -> None:
        self.active = True

    def is_active(self) -> bool:
        return self.active


class TransactionalStream:
    """faust's stream of one verdict record, on an app with Kafka transactions."""

    def __init__(self, gate: RecordGate, flow: Flow) -> None:
        self.acked: list[int] = []
        message = SimpleNamespace(
            topic="content.verdicts.match",
            partition=2,
            offset=7,
            key=b"content-1",
            value=make_verdict().encode(),
            headers=[],
            generation_id=1,
        )
        self.event = SimpleNamespace(message=message, ack=lambda: self.acked.append(7))
        self.app = SimpleNamespace(
            in_transaction=True,
            flow_control=flow,
            consumer_generation_id=1,
            consumer=SimpleNamespace(transactions=SimpleNamespace(record=gate.record)),
        )

    def noack(self) -> TransactionalStream:
        return self

    async def events(self) -> AsyncIterator[Any]:
        yield self.event


async def test_a_record_that_waited_for_a_commit_through_a_rebalance_is_left_for_the_re_read() -> (
    None
):
    """Handled after faust stopped the flow, its writes would join the partition's transaction
    without its ack, and faust reads it again from the committed offset: written twice."""
    sink = ScriptedSink()
    h = Harness(sink)
    gate, flow = RecordGate(), Flow()
    stream = TransactionalStream(gate, flow)
    committing = asyncio.Event()

    async def rebalance() -> None:  # a commit runs as the rebalance begins
        async with gate.between_records():
            committing.set()
            await asyncio.sleep(0.01)
            flow.active = False

    revoking = asyncio.ensure_future(rebalance())
    await committing.wait()
    await h.loop.run(cast(StreamT[bytes], stream))
    await revoking

    assert sink.calls == 0 and stream.acked == []


async def test_a_record_the_agent_stops_on_bars_its_transactions_from_committing() -> None:
    """Its first writes may be in its partition's transaction without its ack: committed, they
    would be written again when the record is read again after the restart."""
    h = Harness(ScriptedSink(KeyError("bug")))
    gate = RecordGate()
    stream = TransactionalStream(gate, Flow())

    await h.loop.run(cast(StreamT[bytes], stream))

    assert isinstance(h.fatal[0], KeyError) and stream.acked == []
    assert gate.unfinished
