"""faust's steps after a rebalance, as its recovery takes them, on a consumer that never
started: the seek to committed offsets (which needs a broker) does nothing here; and a worker's
app, with or without Kafka transactions, that never starts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import faust
import pytest
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaFaustConsumer
from faust.types import TP

from streams.kafka.app import create_app
from streams.settings import Settings, StateSettings


def app_on(tmp_path: Path, *, in_transaction: bool = False) -> faust.App:
    """A worker's app on state in ``tmp_path``, sending in Kafka transactions or not."""
    app = create_app(Settings(state=StateSettings(dir=tmp_path)), exactly_once=in_transaction)
    app.in_transaction = in_transaction  # a worker's app; a test's is a client's
    return app


@asynccontextmanager
async def unstarted_consumer(
    monkeypatch: pytest.MonkeyPatch, assignment: set[TP]
) -> AsyncIterator[AIOKafkaFaustConsumer]:
    """hashgate's consumer of a fresh app, as if ``assignment`` were assigned to it.

    Made inside the test's loop (the consumer binds to it); the loop made for its thread, which
    never starts, is closed on the way out.
    """
    consumer = create_app(Settings()).consumer
    assert isinstance(consumer, AIOKafkaFaustConsumer)
    monkeypatch.setattr(consumer, "assignment", lambda: assignment)
    try:
        yield consumer
    finally:
        consumer._thread.thread_loop.close()


def seek_without_broker(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """faust's own seek replaced by a no-op that records it ran."""
    calls: list[str] = []

    async def perform_seek(self: AIOKafkaFaustConsumer) -> None:
        calls.append("seek")

    monkeypatch.setattr(AIOKafkaFaustConsumer, "perform_seek", perform_seek)
    return calls


async def resume_streams(consumer: AIOKafkaFaustConsumer, streams: Iterable[TP]) -> None:
    """Recovery's end: resume the stream partitions, seek them, resume the flow."""
    consumer.resume_partitions(streams)
    await consumer.perform_seek()
    consumer.app.flow_control.resume()
    consumer.resume_flow()
