"""Fixtures (a pytest plugin) for scan-worker tests: topics, a fast simulator, workers.

Import types from hashgate_tools.harness.worker, never from this module: pytest must be
the first to import a plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from hashgate_tools.harness.images import SIMULATOR_KEY, ImageServer, start_simulator
from hashgate_tools.harness.worker import (
    ScanSetup,
    ScanTopics,
    WorkerProcess,
    create_scan_topics,
    worker_env,
)
from hashgate_tools.simulator import RunningSimulator, SimulatorAdmin


@pytest.fixture
async def fast_simulator() -> AsyncIterator[RunningSimulator]:
    async with start_simulator(quota_rps=5000.0) as running:
        yield running


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(env: dict[str, str], command: str = "worker") -> WorkerProcess:
        """``hashgate <command>`` (the worker, or a downstream agent) with ``env``."""
        env = {"HASHGATE_STATE__DIR": str(tmp_path / "state"), **env}  # not in the temp folder
        log_path = tmp_path / f"{command}-{len(started)}.log"
        worker = WorkerProcess(env, log_path, command).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture
async def scan(
    kafka_bootstrap: str,
    fast_simulator: RunningSimulator,
    image_server: ImageServer,
    worker_factory: Callable[..., WorkerProcess],
) -> AsyncIterator[ScanSetup]:
    topics = ScanTopics()
    await create_scan_topics(kafka_bootstrap, topics)

    def start_worker(**extra: str) -> WorkerProcess:
        env = worker_env(kafka_bootstrap, fast_simulator.base_url, SIMULATOR_KEY, topics, **extra)
        return worker_factory(env)

    async with SimulatorAdmin(fast_simulator.admin_url) as admin:
        yield ScanSetup(kafka_bootstrap, topics, fast_simulator, admin, image_server, start_worker)
