"""The broker itself fails: killed with -9 mid-run and restarted, or gone when SIGTERM comes.

These tests kill the broker, so they get one of their own (hashgate_tools.localkafka.JavaKafka,
restarted on the same data directory and ports) instead of the session's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest

from hashgate_tools.harness.host import busy_core
from hashgate_tools.harness.kafka import produce, wait_committed
from hashgate_tools.harness.waiting import eventually, throughout
from hashgate_tools.harness.worker import (
    OutcomeCollector,
    ScanSetup,
    WorkerProcess,
    events_below,
    records_of,
)
from hashgate_tools.localkafka import JavaKafka, started_java_kafka
from streams.events import UploadEvent
from tests.integration.promise_support import assert_every_event_once_and_right, uploads

pytest_plugins = ["tests.fixtures.simulator", "tests.integration.scan_fixtures"]

SHUTDOWN_GRACE_S = 10.0  # worker_env's HASHGATE_SCAN__SHUTDOWN_GRACE_S

#: Rounds of the broker restart: one in `make test`; `make test-soak` runs SOAK_RESTARTS of them
#: beside a busy core. A scratch loop of this test (a fresh pytest run each time) once showed a
#: skip after the rebalance in about one run of 13 (fixed in streams/kafka/seek_first.py); with
#: that fix switched off, 20 soak rounds on one broker and 20 on a broker each all passed, so
#: the soak is a repetition, not a proven detector of that skip.
RESTART_ROUNDS = int(os.environ.get("SOAK_RESTARTS", "1"))
SOAKING = RESTART_ROUNDS > 1


@pytest.fixture(scope="module")
def restartable_kafka() -> Iterator[JavaKafka]:
    with started_java_kafka() as broker:
        yield broker


@pytest.fixture(scope="module")
def kafka_bootstrap(restartable_kafka: JavaKafka) -> str:
    """The ``scan`` fixture's broker: this module's own."""
    return restartable_kafka.bootstrap


async def _ready(worker: WorkerProcess) -> bool:
    try:
        return (await worker.get("/readyz")).status_code == 200
    except Exception:  # noqa: BLE001 - a page that does not answer is not "ready"
        return False


async def _until_ready(worker: WorkerProcess, ready: bool, within: float) -> None:
    async with asyncio.timeout(within):
        while await _ready(worker) != ready:  # noqa: ASYNC110 - polling another process's page
            await asyncio.sleep(0.2)


async def _worker_on_backlog(
    scan: ScanSetup, events: list[UploadEvent], latency_ms: int
) -> WorkerProcess:
    """``events`` published, PhotoDNA answering in ``latency_ms``, and a ready worker on them."""
    await produce(scan.bootstrap, scan.topics.name("uploads"), records_of(events))
    await scan.admin.set_faults(latency={"kind": "fixed", "ms": latency_ms})
    worker = scan.start_worker()
    await worker.wait_ready()
    return worker


async def _broker_gone(broker: JavaKafka, worker: WorkerProcess) -> None:
    """kill -9 the broker; the worker must say at once that it is not ready."""
    broker.kill()
    await _until_ready(worker, False, within=10)


async def _stays_not_ready(worker: WorkerProcess, seconds: float) -> None:
    """/readyz never says ready (200) during ``seconds`` while the broker stays down."""

    async def not_ready() -> None:
        assert not await _ready(worker), "/readyz said ready while the broker was gone"

    await throughout(not_ready, seconds=seconds, poll=0.2)


async def _committed(scan: ScanSetup) -> dict[int, int]:
    """The group's committed upload offsets once there are some."""
    return await wait_committed(
        scan.bootstrap,
        scan.topics.group,
        scan.topics.name("uploads"),
        lambda committed: any(offset > 0 for offset in committed.values()),
        what="committed offsets of the worker's group",
    )


@pytest.fixture
def contended() -> Iterator[None]:
    """While soaking, a core kept busy beside the worker (at most a test's timeout long)."""
    if not SOAKING:
        yield
        return
    with busy_core(within_s=600):
        yield


@pytest.mark.timeout(600)  # its own waits add up to more than the global 300 s
@pytest.mark.parametrize("round_", range(RESTART_ROUNDS))
@pytest.mark.usefixtures("contended")
async def test_broker_restart_mid_run_loses_nothing_and_the_worker_resumes(
    scan: ScanSetup, restartable_kafka: JavaKafka, round_: int
) -> None:
    events, known = uploads(scan, 5000, seed=11 + round_)
    worker = await _worker_on_backlog(scan, events, latency_ms=5)
    async with OutcomeCollector(scan.bootstrap, scan.topics) as collector:
        await collector.wait_for(1500, within=120)
        await _broker_gone(restartable_kafka, worker)
        assert (await worker.get("/readyz")).json()["reason"] == "Kafka broker unreachable"
        assert collector.settled() < len(events), "the broker must go down mid-run"
        await _stays_not_ready(worker, 3)
        restartable_kafka.restart()
        await asyncio.to_thread(restartable_kafka.wait_until_up)
        await _until_ready(worker, True, within=90)
        out = await collector.wait_for(len(events), within=240)
    assert worker.proc is not None and worker.proc.poll() is None, "it resumed by itself"
    assert "Kafka broker answering again" in worker.log_path.read_text()
    assert_every_event_once_and_right(out, events, known)


@pytest.mark.timeout(600)  # its own waits add up to more than the global 300 s
async def test_sigterm_with_the_broker_gone_exits_within_the_grace_and_commits_nothing_unconfirmed(
    scan: ScanSetup, restartable_kafka: JavaKafka
) -> None:
    events, _ = uploads(scan, 2000, seed=12)
    worker = await _worker_on_backlog(scan, events, latency_ms=20)
    async with OutcomeCollector(scan.bootstrap, scan.topics) as collector:
        await collector.wait_for(300, within=120)
        await _committed(scan)
        await _broker_gone(restartable_kafka, worker)
        worker.signal(signal.SIGTERM)
        started = time.monotonic()
        assert await worker.wait_exit(within=SHUTDOWN_GRACE_S + 5) == 0
        assert time.monotonic() - started <= SHUTDOWN_GRACE_S + 5
        restartable_kafka.restart()
        await asyncio.to_thread(restartable_kafka.wait_until_up)
        uploads_topic = scan.topics.name("uploads")
        committed = await _committed(scan)
        covered = await events_below(scan.bootstrap, uploads_topic, committed)
        await eventually(
            lambda: covered <= collector.out.event_ids(),
            within=30,
            what="an outcome on the broker for every committed event",
        )
