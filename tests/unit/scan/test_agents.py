"""The scan worker's agents: live uploads keep faust's deep queue, the backlog lanes a short one
(streams/kafka/app.py, BACKLOG_BUFFER), so a backlog's refill never holds live uploads back long."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from streams.kafka.app import BACKLOG_BUFFER, create_app
from streams.scan.agents import install_scan_agents
from streams.scan.service import ScanService
from streams.settings import Settings, StateSettings

pytestmark = pytest.mark.unit


async def _idle() -> None:
    return None


def test_backlog_lanes_buffer_a_few_hundred_records_and_live_uploads_the_default(
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
