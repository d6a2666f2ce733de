"""The runbook's own steps against a real broker: a first start, a task dump, bad set-ups.

Each test starts ``hashgate worker`` as a real subprocess, as an operator following the README
would, and checks what the operator sees: topics with their declared settings, no ERROR line on
a clean start, a task dump that neither crashes nor leaks, and exit 78 with one clear line for a
set-up the cluster or the host refuses.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from hashgate_tools.harness.downstream import DownstreamSetup
from hashgate_tools.harness.images import SIMULATOR_KEY, ImageServer
from hashgate_tools.harness.kafka import Record, produce
from hashgate_tools.harness.waiting import eventually
from hashgate_tools.harness.worker import ScanSetup, ScanTopics, WorkerProcess, upload
from hashgate_tools.localkafka import JavaKafka, resolve_classpath
from hashgate_tools.simulator import FixedLatency, RunningSimulator
from streams.errors import EX_CONFIG
from streams.events.topics import DLQ_REPLAY, MODERATION, REPORTING, SCAN_WORKER, topics_of
from streams.settings import TopicSettings
from tests.integration.reporting_support import reporting_env
from tests.integration.rescan_support import run_cli
from tests.runbook import quoted_metrics

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.integration.scan_fixtures",
    "tests.integration.downstream_fixtures",
]

STOCK_RETENTION_MS = 7 * 24 * 3600 * 1000  # Kafka's default log.retention.hours=168
POLICY_EXAMPLE = Path(__file__).parents[2] / "deploy" / "policy.example.yaml"


@pytest.fixture
def empty_broker() -> Iterator[str]:
    """A new, empty broker as a newcomer has one: auto-creation on, stock retention."""
    broker = JavaKafka(resolve_classpath(), stock_retention=True)
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def log_levels(path: Path) -> list[tuple[str, str]]:
    """(level, message) of every JSON log line the process wrote."""
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            lines.append((entry.get("level", ""), entry.get("msg", "")))
    return lines


@dataclass(frozen=True)
class TopicConfig:
    partitions: int
    overrides: dict[str, str]  # set on the topic itself
    effective: dict[str, str]  # what applies, broker defaults included


async def describe(bootstrap: str, names: list[str]) -> dict[str, TopicConfig]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        found = {}
        for response in await admin.describe_configs(resources):
            for _code, _msg, _type, name, entries in response.resources:
                # (name, value, read_only, config_source, is_sensitive, synonyms); 1 = topic
                found[name] = TopicConfig(
                    topics[name],
                    {e[0]: e[1] for e in entries if e[3] == 1},
                    {e[0]: e[1] for e in entries},
                )
        return found
    finally:
        await admin.close()


async def test_a_first_start_on_an_empty_broker_creates_every_topic_as_declared_without_error(
    empty_broker: str,
    fast_simulator: RunningSimulator,
    image_server: ImageServer,
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    # The README's settings on a new cluster: default topic names and partitions (8).
    kafka = {
        "HASHGATE_KAFKA__BOOTSTRAP_SERVERS": empty_broker,
        "HASHGATE_KAFKA__SESSION_TIMEOUT_S": "6",
    }
    worker = worker_factory(
        {
            **kafka,
            "HASHGATE_PHOTODNA__ENDPOINT": fast_simulator.base_url,
            "HASHGATE_PHOTODNA__SUBSCRIPTION_KEY": SIMULATOR_KEY,
            "HASHGATE_PHOTODNA__KEY_QUOTA_RPS": "1000",
        }
    )
    await worker.wait_ready()
    # Then the agents and a DLQ replay, each creating the topics it reads or writes.
    agents = [
        worker_factory(
            {**kafka, "HASHGATE_MODERATION__POLICY_FILE": str(POLICY_EXAMPLE)}, "moderation"
        ),
        worker_factory({**kafka, **reporting_env(fast_simulator)}, "reporting"),
    ]
    # One upload through, so every producer path (verdict, latest, progress tracking) has run.
    event = upload(1, image_server.url(image_server.images.unknown[0]))
    await produce(empty_broker, "content.uploads", [Record(event.key, event.encode())])
    replay, *_ = await asyncio.gather(
        run_cli(worker.env, "dlq", "replay", "--json"),
        worker.wait_metric("hashgate_verdicts_total{", 1),
        *(agent.wait_ready() for agent in agents),
    )
    assert replay.code == 0, replay.stderr

    roles = (SCAN_WORKER, MODERATION, REPORTING, DLQ_REPLAY)
    declared = topics_of(TopicSettings(), *roles)  # name: configs, from the topic registry
    assert {
        "content.rescans.status",
        "content.rescans.progress",
        "content.scan.errors.replayed",
        "moderation.actions",
        "reports.review",
        "downstream.errors",
    } <= set(declared)
    found = await describe(empty_broker, list(declared))
    for name, configs in declared.items():
        topic = found[name]
        assert topic.partitions == 8, f"{name}: {topic.partitions} partitions (auto-created?)"
        policy = configs.get("cleanup.policy", "delete")
        retention = int(configs.get("retention.ms", STOCK_RETENTION_MS))
        assert topic.effective["cleanup.policy"] == policy, f"{name}: {topic.effective}"
        assert int(topic.effective["retention.ms"]) == retention, f"{name}: {topic.effective}"

    for process in (worker, *agents):
        levels = log_levels(process.log_path)
        errors = [msg for level, msg in levels if level in ("error", "critical")]
        raw = process.log_path.read_text(errors="replace").splitlines()
        errors += [line for line in raw if not line.startswith("{") and "ERROR" in line]
        errors += [line for line in raw if "Traceback" in line]
        assert errors == [], (process.log_path.name, errors)
    # Every metric the runbook tells an operator to watch is on the worker's /metrics (a
    # labelled one with no sample yet shows as its HELP line).
    page = (await worker.get("/metrics")).text
    served = set(re.findall(r"^(?:# HELP )?(hashgate_[a-z_]+)", page, re.MULTILINE))
    assert quoted_metrics() - served == set()


async def test_a_replication_factor_the_cluster_cannot_meet_exits_78_naming_topic_and_setting(
    scan: ScanSetup,
) -> None:
    fresh = ScanTopics()
    worker = scan.start_worker(**fresh.env(), HASHGATE_TOPICS__REPLICATION_FACTOR="3")
    assert await worker.wait_exit(within=60) == EX_CONFIG
    output = worker.log_path.read_text(errors="replace")
    assert "HASHGATE_TOPICS__REPLICATION_FACTOR" in output
    assert fresh.name("uploads") in output
    assert "created topics" not in output
    assert "Traceback" not in output


async def test_a_web_port_in_use_exits_78_with_one_line(scan: ScanSetup) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = scan.start_worker(HASHGATE_WEB__PORT=str(port))
        assert await busy.wait_exit(within=60) == EX_CONFIG
    lines = busy.log_path.read_text(errors="replace").strip().splitlines()
    assert lines[-1] == (
        f"hashgate: configuration error: 127.0.0.1:{port} is in use: set HASHGATE_WEB__PORT "
        "to a free port (each hashgate process needs its own)"
    )
    assert "Traceback" not in "\n".join(lines)


async def test_a_task_dump_with_calls_in_flight_neither_crashes_nor_leaks(
    scan: ScanSetup, kafka_bootstrap: str
) -> None:
    signature = "5e1f0c9a7b3d2e4f6a8b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f"
    await scan.admin.set_faults(latency=FixedLatency(ms=20_000))  # calls stay in flight
    worker = scan.start_worker()
    await worker.wait_ready()
    events = [
        upload(
            n,
            scan.images.url(scan.images.images.unknown[0])
            + f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={signature}",
        )
        for n in range(4)
    ]
    await produce(
        kafka_bootstrap, scan.topics.name("uploads"), [Record(e.key, e.encode()) for e in events]
    )
    await worker.wait_metric("hashgate_in_flight{", 1, within=30)
    assert worker.proc is not None

    def dumped(count: int) -> bool:
        """``count`` dumps written (their thread headers), or the process died trying."""
        log = worker.log_path.read_text(errors="replace")
        return log.count("THREAD MainThread") >= count or worker.proc.poll() is not None

    for dumps in (1, 2):
        worker.signal(signal.SIGUSR1)
        await eventually(lambda n=dumps: dumped(n), within=30, poll=0.1, what=f"dump {dumps}")

    def whole_dumps() -> int:
        return worker.log_path.read_text(errors="replace").count("end of task dump")

    await eventually(lambda: whole_dumps() == 2, within=30, poll=0.1, what="two whole dumps")
    output = worker.log_path.read_text(errors="replace")
    assert worker.proc.poll() is None, worker.log_tail()
    assert SIMULATOR_KEY not in output
    assert signature not in output
    assert "X-Amz-Signature" not in output
    assert "ASYNCIO TASKS" in output
    assert output.count("hashgate task dump (kill -USR1)") == 2
    assert (await worker.get("/healthz")).status_code == 200
    worker.signal(signal.SIGTERM)
    await scan.admin.set_faults()  # answer the held calls, so the drain ends quickly
    assert await worker.wait_exit(within=60) == 0


async def test_a_wrong_photodna_endpoint_exits_78(scan: ScanSetup, kafka_bootstrap: str) -> None:
    wrong = scan.simulator.base_url.replace("/photodna/v1.0", "/photodna/v9.9")
    worker = scan.start_worker(HASHGATE_PHOTODNA__ENDPOINT=wrong)
    await worker.wait_ready()
    event = upload(1, scan.images.url(scan.images.images.unknown[0]))
    await produce(kafka_bootstrap, scan.topics.name("uploads"), [Record(event.key, event.encode())])
    assert await worker.wait_exit(within=60) == EX_CONFIG
    assert "HASHGATE_PHOTODNA__ENDPOINT" in worker.log_path.read_text(errors="replace")


async def test_an_invalid_setting_exits_78_naming_the_variable(scan: ScanSetup) -> None:
    worker = scan.start_worker(HASHGATE_SCAN__MAX_IN_FLIGHT="0")
    assert await worker.wait_exit(within=60) == EX_CONFIG
    lines = worker.log_path.read_text(errors="replace").strip().splitlines()
    assert lines[0] == "hashgate: configuration error: invalid configuration:"
    assert lines[1].startswith("  HASHGATE_SCAN__MAX_IN_FLIGHT: Input should be greater")


async def test_a_stats_agents_first_start_creates_its_own_topics_and_logs_no_error(
    downstream: DownstreamSetup, kafka_bootstrap: str
) -> None:
    agent = downstream.start_agent("stats")
    await agent.wait_ready()
    group = downstream.topics.group("stats")
    windowed = ("matches-by-tenant-day", "matches-by-source-day")
    found = await describe(
        kafka_bootstrap,
        [f"{group}-seen-changelog", f"{group}-matches-by-tenant"]
        + [f"{group}-{table}-changelog" for table in windowed],
    )
    fourteen_days_ms = str(14 * 24 * 3600 * 1000)  # HASHGATE_STATE__SEEN_EXPIRY_DAYS's default
    assert found[f"{group}-seen-changelog"].overrides == {
        "cleanup.policy": "compact,delete",
        "retention.ms": fourteen_days_ms,
    }
    assert found[f"{group}-matches-by-tenant"].overrides == {}
    for table in windowed:
        config = found[f"{group}-{table}-changelog"].overrides
        assert config["cleanup.policy"] == "compact,delete"
        assert int(config["retention.ms"]) == 400 * 24 * 3600 * 1000  # the days counts are kept
    errors = [msg for level, msg in log_levels(agent.log_path) if level in ("error", "critical")]
    assert errors == [], errors
