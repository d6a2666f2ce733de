"""A topic whose agent falls behind stops being fetched as a whole, and resumes as a whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faust.types import TP

from streams.kafka.app import create_app, raw_topic
from streams.kafka.backlog import BACKLOG_BUFFER
from streams.kafka.buffering import TopicWideBufferingConsumer
from streams.settings import Settings, StateSettings
from tests.unit.kafka.faust_steps import resume_streams, seek_without_broker, unstarted_consumer

pytestmark = pytest.mark.unit

RESCANS = {TP("rescans", p) for p in range(4)}
UPLOADS = {TP("uploads", p) for p in range(4)}


@pytest.fixture
async def consumer(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TopicWideBufferingConsumer]:
    async with unstarted_consumer(monkeypatch, RESCANS | UPLOADS) as consumer:
        assert isinstance(consumer, TopicWideBufferingConsumer)
        seek_without_broker(monkeypatch)
        await resume_streams(consumer, RESCANS | UPLOADS)
        yield consumer


async def test_one_partition_under_pressure_stops_fetching_its_whole_topic(
    consumer: TopicWideBufferingConsumer,
) -> None:
    consumer.on_buffer_full(TP("rescans", 2))
    assert consumer._buffered_partitions == RESCANS
    assert consumer._get_active_partitions() == UPLOADS  # live uploads keep flowing


async def test_the_topic_resumes_as_a_whole(consumer: TopicWideBufferingConsumer) -> None:
    consumer.on_buffer_full(TP("rescans", 0))
    consumer.on_buffer_drop(TP("rescans", 3))
    assert consumer._buffered_partitions == set()
    assert consumer._get_active_partitions() == RESCANS | UPLOADS


@pytest.mark.parametrize("backlog", [True, False])
def test_a_poll_fits_in_what_an_agent_queue_has_left_past_its_mark(
    tmp_path: Path, backlog: bool
) -> None:
    """Past the mark the topic stops, but the poll in hand still goes in: were the queue full
    before its end, faust's delivery would wait, holding back every other topic's records."""
    settings = Settings(state=StateSettings(dir=tmp_path))
    app = create_app(settings)
    queue = raw_topic(app, settings.topics.rescans, settings, backlog=backlog).queue
    assert queue.maxsize == (BACKLOG_BUFFER if backlog else app.conf.stream_buffer_maxsize)
    assert queue.maxsize - queue.pressure_high_size >= app.conf.broker_max_poll_records


def test_a_backlog_topic_refills_its_agent_queue_a_hundred_or_so_records_at_a_time(
    tmp_path: Path,
) -> None:
    """What live uploads fetched behind the refill wait for: one event-loop turn a record."""
    settings = Settings(state=StateSettings(dir=tmp_path))
    topic = raw_topic(create_app(settings), settings.topics.rescans, settings, backlog=True)
    stream_queue = topic.clone(is_iterator=True).queue  # an agent's stream: a clone of its topic
    assert stream_queue.pressure_high_size - stream_queue.pressure_drop_size <= 150
