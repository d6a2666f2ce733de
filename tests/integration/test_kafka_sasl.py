"""Every Kafka client of hashgate on the broker's SASL_SSL listener (SCRAM-SHA-512, test CA).

The tests' own producers and readers use the PLAINTEXT listener of the same broker; everything
hashgate runs (the worker, the downstream agents, the rescan and DLQ commands) gets only the
SASL_SSL address and credentials, so it works over TLS with a SCRAM login or not at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hashgate_tools.harness.downstream import DownstreamSetup, match_verdict
from hashgate_tools.harness.images import SIMULATOR_KEY
from hashgate_tools.harness.kafka import produce
from hashgate_tools.harness.worker import ScanSetup, read_outcomes, records_of, upload
from hashgate_tools.localkafka import LocalBroker, SecuredListener, started_java_kafka
from hashgate_tools.simulator import RunningSimulator
from hashgate_tools.testpki import write_ca
from streams.events import ModerationAction, ScanError, VerdictKind
from tests.integration.rescan_support import run_cli, settings_for, verdicts_of

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.integration.scan_fixtures",
    "tests.integration.downstream_fixtures",
]
pytestmark = pytest.mark.integration

POLICY = """\
version: 1
rules: []
default:
  actions: [quarantine_content]
"""


@pytest.fixture(scope="module")
def sasl_broker(kafka_broker: LocalBroker) -> Iterator[LocalBroker]:
    """The session's broker when it has a SASL_SSL listener (it is our own Java node unless
    KAFKA_BOOTSTRAP or a Docker engine chose another), so no second broker starts; else a Java
    node of this module's own: these tests run wherever the suite runs, never skipped."""
    if kafka_broker.secured is not None:
        yield kafka_broker
        return
    with started_java_kafka() as broker:
        yield LocalBroker(broker.bootstrap, broker.secured)


@pytest.fixture(scope="module")
def kafka_bootstrap(sasl_broker: LocalBroker) -> str:
    """The ``scan`` and ``downstream`` fixtures' broker: the one with the SASL_SSL listener."""
    return sasl_broker.bootstrap


@pytest.fixture
def secured(sasl_broker: LocalBroker) -> SecuredListener:
    assert sasl_broker.secured is not None
    return sasl_broker.secured


async def test_sasl_ssl_worker_rescan_and_dlq_commands_run_end_to_end(
    scan: ScanSetup, secured: SecuredListener
) -> None:
    images = scan.images.images
    names = [images.known[0], images.unknown[0], images.unknown[1], images.known[1]] * 3
    events = [upload(n, scan.images.url(name)) for n, name in enumerate(names)]
    broken = upload(99, scan.images.url(images.not_an_image))
    worker = scan.start_worker(**secured.settings_env())
    await worker.wait_ready()

    await produce(scan.bootstrap, scan.topics.name("uploads"), records_of([*events, broken]))
    live = await read_outcomes(
        scan.bootstrap, scan.topics, until_events={e.event_id for e in [*events, broken]}
    )
    expected = {
        e.event_id: VerdictKind.MATCH if n % 4 in (0, 3) else VerdictKind.CLEAR
        for n, e in enumerate(events)
    }
    assert {v.event_id: v.verdict for v in live.verdicts} == expected
    assert [e.event_id for e in live.errors] == [broken.event_id]

    rescan = await run_cli(
        worker.env, "rescan", "start", "--all", "--rescan-id", "rs-sasl", "--wait"
    )
    assert rescan.code == 0, rescan.stderr
    rescanned = await verdicts_of(settings_for(scan.bootstrap, scan.topics), "rs-sasl")
    assert {v.event_id: v.verdict for v in rescanned} == expected

    # The broken upload's two DLQ records (the live scan's and the rescan's) are permanent:
    # sent back only with --any-reason, which writes the replays and their marks over SASL_SSL.
    replay = await run_cli(worker.env, "dlq", "replay", "--any-reason", "--json")
    assert replay.code == 0, replay.stderr
    assert json.loads(replay.stdout)["replayed"] == 2


async def test_sasl_ssl_downstream_agents_run_end_to_end(
    downstream: DownstreamSetup,
    secured: SecuredListener,
    fast_simulator: RunningSimulator,
    tmp_path: Path,
) -> None:
    # Each agent creates its own table changelogs at start, over SASL_SSL like everything else.
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = secured.settings_env()
    agents = {
        "moderation": downstream.start_agent(
            "moderation", HASHGATE_MODERATION__POLICY_FILE=str(policy), **env
        ),
        "reporting": downstream.start_agent(
            "reporting",
            HASHGATE_PHOTODNA__ENDPOINT=fast_simulator.base_url,
            HASHGATE_PHOTODNA__SUBSCRIPTION_KEY=SIMULATOR_KEY,
            HASHGATE_PHOTODNA__NCMEC_USERNAME="ncmec-user",
            HASHGATE_PHOTODNA__NCMEC_PASSWORD="ncmec-password",
            HASHGATE_REPORTING__ORG_NAME="Example Platform",
            HASHGATE_REPORTING__REPORTER_NAME="Trust & Safety",
            HASHGATE_REPORTING__REPORTER_EMAIL="tns@example.com",
            **env,
        ),
        "stats": downstream.start_agent("stats", **env),
    }
    for agent in agents.values():
        await agent.wait_ready()

    await downstream.publish([match_verdict(n, "https://cdn.example.com/i.png") for n in (1, 2)])
    for role in agents:
        await downstream.wait_consumed(role, downstream.topics.name("verdicts_match"), 2)
    actions = await downstream.read("moderation_actions", ModerationAction)
    assert sorted(a.event_id for a in actions) == ["evt-0001", "evt-0002"]
    assert await downstream.read("downstream_errors", ScanError) == []


def _refused_env(secured: SecuredListener, tmp_path: Path, failure: str) -> dict[str, str]:
    env = {
        **os.environ,
        **secured.settings_env(),
        "HASHGATE_PHOTODNA__ENDPOINT": "http://127.0.0.1:9",
        "HASHGATE_PHOTODNA__SUBSCRIPTION_KEY": "unused-key",
    }
    if failure == "password":
        env["HASHGATE_KAFKA__SASL_PASSWORD"] = "not-the-password-7f3a"
    else:
        other_ca = tmp_path / "other-ca.pem"
        write_ca(other_ca, "some-other-ca")
        env["HASHGATE_KAFKA__SSL_CAFILE"] = str(other_ca)
    return env


@pytest.mark.parametrize(
    ("failure", "command", "setting"),
    [
        ("password", ("worker",), "HASHGATE_KAFKA__SASL_PASSWORD"),
        ("password", ("stats",), "HASHGATE_KAFKA__SASL_PASSWORD"),
        ("password", ("dlq", "replay", "--dry-run"), "HASHGATE_KAFKA__SASL_PASSWORD"),
        ("ca", ("worker",), "HASHGATE_KAFKA__SSL_CAFILE"),
        ("ca", ("rescan", "status", "rs-none"), "HASHGATE_KAFKA__SSL_CAFILE"),
    ],
)
async def test_sasl_ssl_refusal_stops_at_start_with_exit_78_naming_the_setting(
    secured: SecuredListener,
    tmp_path: Path,
    failure: str,
    command: tuple[str, ...],
    setting: str,
) -> None:
    result = await run_cli(_refused_env(secured, tmp_path, failure), *command, within=60)
    assert result.code == 78, result.stderr[-2000:]
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("hashgate: configuration error:") and setting in last_line
    assert "not-the-password-7f3a" not in result.stdout + result.stderr
