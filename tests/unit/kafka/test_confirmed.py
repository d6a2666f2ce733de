"""FaustWriter: which of faust's producers a write goes through, and that it waits for the
broker's acknowledgement before it returns."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import faust
import pytest

from streams.kafka.confirmed import FaustWriter, Headers
from tests.unit.kafka.faust_steps import app_on

pytestmark = pytest.mark.unit


class SendLog:
    """Stands in for a producer's ``send``: records each record, and hands back a delivery
    future the test resolves (the broker's acknowledgement)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, Headers | None]] = []
        self.acks: list[asyncio.Future[None]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes, **kw: Any) -> Any:
        self.sent.append((topic, key, value, kw["headers"]))
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


class AnyTopic:
    def track(self, topic: str) -> None:
        """The producer's metadata is not what these tests are about."""


def sending_into(log: SendLog, app: faust.App, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's producer, running, sends into ``log``."""
    monkeypatch.setattr(app.producer, "send", log.send)
    app.producer._started.set()  # type: ignore[attr-defined]


async def writing(app: faust.App, *record: Any) -> asyncio.Future[None]:
    """A FaustWriter's write of ``record`` (topic, key, value, headers), let run up to its wait
    for the broker."""
    writer = FaustWriter(app)
    writer._tracked = AnyTopic()  # type: ignore[assignment]
    write = asyncio.ensure_future(writer.write(*record))
    await asyncio.sleep(0.01)
    return write


@pytest.mark.parametrize(
    ("headers", "sent"),
    # faust tests any headers given against typing's Mapping on every send, a list too
    [([("h", b"1")], [("h", b"1")]), ([], None)],
)
async def test_a_write_returns_only_once_the_broker_acknowledged_it(
    headers: Headers, sent: Headers | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, log = app_on(tmp_path), SendLog()
    sending_into(log, app, monkeypatch)
    write = await writing(app, "t", b"k", b"v", headers)
    assert log.sent == [("t", b"k", b"v", sent)]
    assert not write.done()
    log.acks[0].set_result(None)
    await asyncio.wait_for(write, timeout=1)


async def test_a_send_returns_once_the_record_is_queued_with_its_acknowledgement_to_come(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a lane's round of writes relies on: every record queued before any is waited for."""
    app, log = app_on(tmp_path), SendLog()
    sending_into(log, app, monkeypatch)
    writer = FaustWriter(app)
    writer._tracked = AnyTopic()  # type: ignore[assignment]

    pending = [await writer.send("t", key, b"v", []) for key in (b"a", b"b")]

    assert [key for _, key, *_ in log.sent] == [b"a", b"b"]
    assert not any(future.done() for future in pending)
    for ack in log.acks:
        ack.set_result(None)
    await asyncio.wait_for(asyncio.gather(*pending), timeout=1)


async def test_a_failed_acknowledgement_raises_from_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, log = app_on(tmp_path), SendLog()
    sending_into(log, app, monkeypatch)
    write = await writing(app, "t", b"k", b"v", [])
    log.acks[0].set_exception(OSError("broker gone"))
    with pytest.raises(OSError):
        await asyncio.wait_for(write, timeout=1)


async def test_a_producer_not_running_yet_is_started_before_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, log = app_on(tmp_path), SendLog()
    monkeypatch.setattr(app.producer, "send", log.send)

    async def start() -> None:
        assert not log.sent, "a record was sent before the producer started"
        app.producer._started.set()  # type: ignore[attr-defined]

    monkeypatch.setattr(app.producer, "start", start)
    write = await writing(app, "t", b"k", b"v", [])
    assert app.producer.started
    assert [topic for topic, *_ in log.sent] == ["t"]
    log.acks[0].set_result(None)
    await asyncio.wait_for(write, timeout=1)


async def test_with_transactions_a_write_goes_through_the_transaction_manager(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its producer per source partition makes the record part of that record's transaction."""
    app, plain, transactional = app_on(tmp_path, in_transaction=True), SendLog(), SendLog()
    sending_into(plain, app, monkeypatch)
    monkeypatch.setattr(app.consumer.transactions, "send", transactional.send)
    write = await writing(app, "t", b"k", b"v", [])
    assert ([r[0] for r in transactional.sent], plain.sent) == (["t"], [])
    transactional.acks[0].set_result(None)
    await asyncio.wait_for(write, timeout=1)
