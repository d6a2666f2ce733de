"""An agent's write returns once Kafka confirmed it, however long that takes, and is counted."""

from __future__ import annotations

import pytest

from streams.downstream.metrics import DownstreamMetrics
from streams.downstream.writer import agent_writer
from tests.support import RecordingWriter, Sleeps

pytestmark = pytest.mark.unit


async def test_a_write_is_retried_until_confirmed_and_counted_once() -> None:
    broker, sleeps, metrics = RecordingWriter(failures=2), Sleeps(), DownstreamMetrics()
    writer = agent_writer(broker, agent="moderation", metrics=metrics, backoff=sleeps.policy())

    await writer.write("actions", b"k", b"v", [("h", b"1")])

    assert broker.sent == [("actions", b"k", b"v")]
    assert broker.headers == [[("h", b"1")]]
    assert len(sleeps.waits) == 2
    counted = metrics.registry.get_sample_value(
        "hashgate_downstream_emitted_total", {"agent": "moderation", "topic": "actions"}
    )
    assert counted == 1
