"""faust's producer in hashgate's transport: it tells when buffered table writes are confirmed,
and with Kafka transactions sends one made outside any record without a transaction."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from streams.kafka import transport
from streams.kafka.transactions import OUTSIDE_TRANSACTIONS
from tests.unit.kafka.faust_steps import app_on

pytestmark = pytest.mark.unit


@pytest.fixture
def in_a_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """Table writes from now on are made while a record is handled (a transaction's)."""
    monkeypatch.setattr(transport, "current_event", lambda: object())


@pytest.mark.usefixtures("in_a_record")
async def test_settled_returns_once_every_buffered_write_is_confirmed(tmp_path: Path) -> None:
    app = app_on(tmp_path, in_transaction=True)
    producer: Any = app.producer
    fut = app.topic("t").as_future_message(key=b"k", value=b"v")
    producer.send_soon(fut)  # into faust's buffer, which no task drains here
    waiting = asyncio.ensure_future(producer.settled())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    fut.set_result(None)
    await waiting


@pytest.mark.usefixtures("in_a_record")
async def test_a_failed_write_raises_from_settled(tmp_path: Path) -> None:
    app = app_on(tmp_path, in_transaction=True)
    producer: Any = app.producer
    fut = app.topic("t").as_future_message(key=b"k", value=b"v")
    producer.send_soon(fut)
    fut.set_exception(OSError("broker gone"))
    with pytest.raises(OSError):
        await producer.settled()


async def test_without_transactions_writes_are_not_tracked(tmp_path: Path) -> None:
    """The scan worker's writes cost no bookkeeping: no commit of its waits for them."""
    app = app_on(tmp_path, in_transaction=False)
    producer: Any = app.producer
    producer.send_soon(app.topic("t").as_future_message(key=b"k", value=b"v"))
    await asyncio.wait_for(producer.settled(), timeout=1)  # the write is still unconfirmed


async def test_a_write_outside_any_record_is_sent_outside_the_transactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_on(tmp_path, in_transaction=True)
    monkeypatch.setattr(transport, "current_event", lambda: None)  # faust expiring a window
    marked: list[bool] = []
    topic = app.topic("changelog")

    async def publish_message(fut: Any, wait: bool = False) -> None:
        marked.append(OUTSIDE_TRANSACTIONS.get())
        fut.set_result(None)

    monkeypatch.setattr(topic, "publish_message", publish_message)
    app.producer.send_soon(topic.as_future_message(key=b"k", value=None))
    await app.producer.settled()  # type: ignore[attr-defined]
    assert marked == [True]
    assert not OUTSIDE_TRANSACTIONS.get()  # only that send's task was marked
