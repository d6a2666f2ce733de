"""Runs ``hashgate worker`` as a real subprocess against the test broker and simulator.

Tests that depend on process death (kill -9, SIGTERM, exit codes) need a real process; the
harness gives each test its own topics and consumer group so tests never see each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from hashgate_tools.harness.host import free_port
from hashgate_tools.harness.images import ImageServer
from hashgate_tools.harness.kafka import Record, create_topics, unique
from hashgate_tools.harness.outcomes import Outcome, OutcomeReader
from hashgate_tools.harness.processes import Process
from hashgate_tools.harness.waiting import eventually
from hashgate_tools.simulator import RunningSimulator, SimulatorAdmin
from streams.events import ScanError, UploadEvent, Verdict
from streams.events.topics import OWN_SETTING_TOPICS, SCAN_WORKER, settings_of

#: The settings of the topics a worker reads or writes; each test names them after itself.
TOPIC_SETTINGS = settings_of(SCAN_WORKER)


@dataclass
class ScanTopics:
    """One test's topic names (all unique) and its consumer group."""

    prefix: str = field(default_factory=lambda: unique("t"))

    def name(self, setting: str) -> str:
        return f"{self.prefix}.{setting}"

    @property
    def group(self) -> str:
        return f"{self.prefix}-workers"

    def env(self) -> dict[str, str]:
        env = {f"HASHGATE_TOPICS__{s.upper()}": self.name(s) for s in TOPIC_SETTINGS}
        env["HASHGATE_KAFKA__CONSUMER_GROUP"] = self.group
        # the quota savers' topics too: one test's cached answers never answer another's
        for topic in OWN_SETTING_TOPICS:
            env[topic.env_var] = self.name(topic.setting.split(".")[0])
        return env

    @property
    def outputs(self) -> list[str]:
        return [self.name(s) for s in ("verdicts_match", "verdicts_clear", "scan_errors")]

    def outcome_reader(self, bootstrap: str) -> OutcomeReader:
        verdicts = [self.name("verdicts_match"), self.name("verdicts_clear")]
        return OutcomeReader(bootstrap, verdicts, self.name("scan_errors"))


class WorkerProcess(Process):
    """One ``hashgate <command>`` subprocess (the worker, or a downstream agent) with its own
    web port and log file."""

    def __init__(self, env: dict[str, str], log_path: Path, command: str = "worker") -> None:
        self.command = command
        self.port = int(env.get("HASHGATE_WEB__PORT") or free_port())
        argv = [sys.executable, "-m", "streams", command]
        env = {**env, "HASHGATE_WEB__PORT": str(self.port)}
        super().__init__(command, argv, env, log_path.parent)
        self.log_path = log_path

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self._proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=2) as client:
            return await client.get(self.url + path)

    async def wait_ready(self, within: float = 90) -> None:
        """Until /readyz says ready (the worker consumes and the breaker is closed)."""
        async with asyncio.timeout(within):
            while True:
                self._assert_running()
                try:
                    if (await self.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.25)

    def _assert_running(self) -> None:
        if self.exit_code is not None:
            raise AssertionError(f"{self.command} exited with {self.exit_code}:\n{self.log_tail()}")

    def signal(self, signum: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def wait_exit(self, within: float = 60) -> int:
        proc = self.proc
        assert proc is not None
        await eventually(
            lambda: proc.poll() is not None, within=within, poll=0.1, what="worker exit"
        )
        return proc.returncode

    async def wait_metric(self, name: str, at_least: float, within: float = 60) -> float:
        """Until the metric's sum reaches ``at_least``; fails if the worker exits meanwhile."""
        async with asyncio.timeout(within):
            while True:
                self._assert_running()
                with contextlib.suppress(httpx.TransportError):
                    if (value := await self.metric(name)) >= at_least:
                        return value
                await asyncio.sleep(0.2)

    async def metric(self, name: str) -> float:
        """Sum of one metric's samples on /metrics."""
        text = (await self.get("/metrics")).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and not line.startswith("#")
        )


def upload(
    n: int, media_url: str, *, content_id: str | None = None, tenant: str = "acme"
) -> UploadEvent:
    return UploadEvent(
        event_id=f"evt-{n:06d}",
        tenant=tenant,
        content_id=content_id or f"content-{n:06d}",
        media_url=media_url,
        uploaded_at=datetime.now(UTC),
    )


def records_of(events: Iterable[UploadEvent]) -> list[Record]:
    return [Record(e.key, e.encode()) for e in events]


@dataclass
class Outcomes:
    """What the worker wrote, parsed: verdicts by topic and DLQ records."""

    matches: list[Verdict]
    clears: list[Verdict]
    errors: list[ScanError]

    @property
    def verdicts(self) -> list[Verdict]:
        return self.matches + self.clears

    def event_ids(self) -> set[str]:
        ids = {v.event_id for v in self.verdicts}
        return ids | {e.event_id for e in self.errors if e.event_id}

    def per_event(self) -> Counter[str]:
        return Counter(v.event_id for v in self.verdicts)


class OutcomeCollector:
    """Reads the worker's output topics in the background, so a test can act mid-run."""

    def __init__(self, bootstrap: str, topics: ScanTopics) -> None:
        self.topics = topics
        self.out = Outcomes([], [], [])
        self.raw_errors: list[ConsumerRecord[bytes, bytes]] = []
        self._reader = topics.outcome_reader(bootstrap)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> OutcomeCollector:
        await self._reader.__aenter__()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._reader.__aexit__()

    async def _run(self) -> None:
        while True:
            for outcome in await self._reader.read(timeout_ms=200):
                self._add(outcome)

    def _add(self, outcome: Outcome) -> None:
        decoded = outcome.decoded
        if isinstance(decoded, ScanError):
            self.out.errors.append(decoded)
            self.raw_errors.append(outcome.record)
        elif outcome.record.topic == self.topics.name("verdicts_match"):
            self.out.matches.append(decoded)
        else:
            self.out.clears.append(decoded)

    def settled(self) -> int:
        """Events with an outcome so far (duplicates counted once)."""
        return len(self.out.event_ids()) + sum(1 for e in self.out.errors if not e.event_id)

    async def wait_for(self, count: int, *, within: float = 120) -> Outcomes:
        try:
            await eventually(
                lambda: self.settled() >= count, within=within, poll=0.05, what=f"{count} outcomes"
            )
        except AssertionError as exc:
            # The count when the wait ended: one put into ``what`` gave the count before it (a
            # failed broker-restart run read "have 2050" while 4,950 outcomes were on the broker).
            raise AssertionError(f"{exc}: {self.settled()} at the deadline") from None
        return self.out


async def read_outcomes(
    bootstrap: str, topics: ScanTopics, *, until_events: set[str], within: float = 120
) -> Outcomes:
    """Read all outputs until every id in ``until_events`` has an outcome."""
    async with OutcomeCollector(bootstrap, topics) as collector:
        try:
            await eventually(
                lambda: until_events <= collector.out.event_ids(),
                within=within,
                poll=0.05,
                what=f"outcomes for {len(until_events)} events",
            )
        except AssertionError as exc:
            missing = sorted(until_events - collector.out.event_ids())
            raise AssertionError(f"{exc}; {len(missing)} missing: {missing[:20]}") from None
        return collector.out


async def events_below(bootstrap: str, topic: str, committed: dict[int, int]) -> set[str]:
    """Event ids of the upload records below each partition's committed offset."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    ids: set[str] = set()
    try:
        for partition, offset in committed.items():
            if offset <= 0:
                continue
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, 0)
            while (position := await consumer.position(tp)) < offset:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=offset - position)
                for record in batch.get(tp, []):
                    if record.offset < offset:
                        ids.add(UploadEvent.decode(record.value).event_id)
    finally:
        await consumer.stop()
    return ids


async def create_scan_topics(bootstrap: str, topics: ScanTopics, partitions: int = 4) -> None:
    await create_topics(bootstrap, [topics.name(s) for s in TOPIC_SETTINGS], partitions)


def worker_env(
    bootstrap: str, endpoint: str, key: str, topics: ScanTopics, **extra: str
) -> dict[str, str]:
    env = {
        "HASHGATE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "HASHGATE_PHOTODNA__ENDPOINT": endpoint,
        "HASHGATE_PHOTODNA__SUBSCRIPTION_KEY": key,
        "HASHGATE_PHOTODNA__KEY_QUOTA_RPS": "5000",
        "HASHGATE_PHOTODNA__BREAKER_RESET_S": "1",
        "HASHGATE_PHOTODNA__BACKOFF_BASE_S": "0.05",
        "HASHGATE_PHOTODNA__BACKOFF_CAP_S": "1",
        "HASHGATE_PHOTODNA__READ_TIMEOUT_S": "5",
        "HASHGATE_SCAN__EVENT_RETRY_DELAY_S": "1",
        "HASHGATE_SCAN__SHUTDOWN_GRACE_S": "10",
        "HASHGATE_KAFKA__SESSION_TIMEOUT_S": "6",
        "HASHGATE_TOPICS__PARTITIONS": "4",
        "HASHGATE_LOG_LEVEL": "INFO",
        **topics.env(),
    }
    env.update(extra)
    return env


@dataclass
class ScanSetup:
    bootstrap: str
    topics: ScanTopics
    simulator: RunningSimulator
    admin: SimulatorAdmin
    images: ImageServer
    start_worker: Callable[..., WorkerProcess]
