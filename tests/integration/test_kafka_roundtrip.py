"""The event contracts on a real broker: with aiokafka, and through a faust agent the way the
worker reads and writes (raw bytes in, decoded by the agent, written by a FaustWriter)."""

from __future__ import annotations

from datetime import UTC, datetime

import faust

from hashgate_tools.harness.kafka import Record, consume, create_topics, produce, unique
from streams.events import UploadEvent
from streams.kafka.app import create_app, raw_topic
from streams.kafka.confirmed import FaustWriter
from streams.settings import Settings
from tests.support import make_upload


def _upload(n: int) -> UploadEvent:
    """Every optional field set, so a field the round trip lost would show."""
    upload = make_upload(n, uploaded_at=datetime(2026, 11, 1, 12, 0, n, tzinfo=UTC))
    return upload.model_copy(
        update={"media_type": "image/jpeg", "metadata": {"album": "holiday", "n": n}}
    )


async def test_upload_event_round_trips_through_the_broker(kafka_bootstrap: str) -> None:
    topic = unique("uploads")
    await create_topics(kafka_bootstrap, [topic], partitions=3)
    sent = [_upload(n) for n in range(20)]
    await produce(kafka_bootstrap, topic, [Record(e.key, e.encode()) for e in sent])

    records = await consume(kafka_bootstrap, [topic], until=lambda r: len(r) >= 20, timeout_s=30)

    received = sorted((UploadEvent.decode(r.value) for r in records), key=lambda e: e.event_id)
    assert received == sorted(sent, key=lambda e: e.event_id)
    assert {r.key for r in records} == {e.content_id.encode() for e in sent}


async def test_faust_agent_forwards_decoded_events(kafka_bootstrap: str) -> None:
    source, sink = unique("uploads"), unique("forwarded")
    await create_topics(kafka_bootstrap, [source, sink], partitions=2)
    settings = Settings(
        kafka={"bootstrap_servers": kafka_bootstrap, "consumer_group": unique("forwarder")}
    )
    app = create_app(settings, web_enabled=False)
    writer = FaustWriter(app, writes=[sink])
    seen: list[UploadEvent] = []

    @app.agent(raw_topic(app, source, settings))
    async def forward(stream: faust.StreamT[bytes]) -> None:
        async for key, value in stream.items():
            event = UploadEvent.decode(value)
            seen.append(event)
            await writer.write(sink, key, event.encode(), [])

    sent = [_upload(n) for n in range(10)]
    await app.start()
    try:
        await produce(kafka_bootstrap, source, [Record(e.key, e.encode()) for e in sent])
        records = await consume(kafka_bootstrap, [sink], until=lambda r: len(r) >= 10, timeout_s=60)
    finally:
        await app.stop()
    forwarded = sorted((UploadEvent.decode(r.value) for r in records), key=lambda e: e.event_id)
    assert forwarded == sorted(sent, key=lambda e: e.event_id)
    assert len(seen) == 10
