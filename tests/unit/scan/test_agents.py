"""The scan worker's agents: live uploads keep faust's deep queue, the backlog lanes a short one
(streams/kafka/backlog.py), and their records come last in each poll, so a backlog never holds
live uploads back long."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from streams.kafka.app import create_app
from streams.kafka.backlog import BACKLOG_BUFFER, backlog_topics
from streams.scan.agents import install_scan_agents
from streams.scan.service import ScanService
from streams.settings import Settings, StateSettings

pytestmark = pytest.mark.unit


async def _idle() -> None:
    return None


def test_backlog_lanes_are_backlog_topics_and_live_uploads_keep_the_default_queue(
    tmp_path: Path,
) -> None:
    settings = Settings(state=StateSettings(dir=tmp_path))
    app = create_app(settings)
    service = SimpleNamespace(
        kafka_watch=SimpleNamespace(probe=_idle), yield_to_live=_idle, checkpoint=_idle
    )
    install_scan_agents(app, settings, cast(ScanService, service))
    queue_sizes: dict[str, Any] = {
        agent.channel.get_topic_name(): agent.channel.clone(is_iterator=True).queue.maxsize
        for agent in app.agents.values()
    }
    topics = settings.topics
    assert queue_sizes == {
        topics.uploads: app.conf.stream_buffer_maxsize,
        topics.rescans: BACKLOG_BUFFER,
        topics.retries: BACKLOG_BUFFER,
    }
    assert backlog_topics(app) == {topics.rescans, topics.retries}
