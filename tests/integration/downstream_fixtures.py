"""Fixtures (a pytest plugin) for downstream agent tests: topics and an agent factory.

Import types from hashgate_tools.harness.downstream, never from this module: pytest must be
the first to import a plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hashgate_tools.harness.downstream import (
    AgentProcess,
    DownstreamSetup,
    DownstreamTopics,
    create_downstream_topics,
)


@pytest.fixture
async def downstream(kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[DownstreamSetup]:
    topics = DownstreamTopics()
    await create_downstream_topics(kafka_bootstrap, topics)
    started: list[AgentProcess] = []

    def start_agent(command: str, **extra: str) -> AgentProcess:
        env = {
            "HASHGATE_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            "HASHGATE_KAFKA__SESSION_TIMEOUT_S": "6",
            "HASHGATE_LOG_LEVEL": "INFO",
            "HASHGATE_STATE__DIR": str(tmp_path / "state"),
            **topics.env(),
            **extra,
        }
        agent = AgentProcess(command, env, tmp_path / f"{command}-{len(started)}.log").start()
        started.append(agent)
        return agent

    yield DownstreamSetup(kafka_bootstrap, topics, start_agent)
    for agent in started:
        agent.kill()
