"""The README's "first verdict with the simulator", step by step, with its own variables.

The variables come from the README block itself (only the broker, the simulator's port and the
key are this test's), so the block cannot drift from a set-up that works: a worker and a
reporting agent start with it, ``hashgate uploads publish`` gets a match verdict in one
command, and the agent files a test report once it is approved.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from hashgate_tools.harness.downstream import AgentProcess
from hashgate_tools.harness.images import SIMULATOR_KEY
from hashgate_tools.harness.kafka import consume
from hashgate_tools.harness.worker import ScanSetup
from streams.events import ReportOutcome, ReportStatus, ReviewRequest
from streams.ports import DEFAULT_PORTS
from streams.readme_blocks import ReadmeBlock
from tests.integration.rescan_support import run_cli

pytest_plugins = ["tests.fixtures.simulator", "tests.integration.scan_fixtures"]

README = Path(__file__).parents[2] / "README.md"
SIMULATOR_ENV = ReadmeBlock("simulator-env", "edit README.md")


def readme_env() -> dict[str, str]:
    """The ``export NAME=VALUE`` lines of the README's simulator block, as the shell reads them."""
    env = {}
    for line in SIMULATOR_ENV.read(README.read_text()).splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            (env[name],) = shlex.split(value)
    return env


def test_the_readme_block_points_at_the_default_simulator() -> None:
    env = readme_env()
    port = DEFAULT_PORTS["simulator"]
    assert env["HASHGATE_PHOTODNA__ENDPOINT"] == f"http://127.0.0.1:{port}/photodna/v1.0"
    assert json.loads(env["HASHGATE_MEDIA__ALLOW_HOSTS"]) == ["127.0.0.1"]


async def test_a_first_verdict_and_report_with_the_readmes_simulator_setup(
    scan: ScanSetup, tmp_path: Path
) -> None:
    topics = scan.topics
    env = {
        **readme_env(),
        # Only what differs on a test machine: the broker, the simulator's port, its key.
        "HASHGATE_KAFKA__BOOTSTRAP_SERVERS": scan.bootstrap,
        "HASHGATE_PHOTODNA__ENDPOINT": scan.simulator.base_url,
        "HASHGATE_PHOTODNA__SUBSCRIPTION_KEY": SIMULATOR_KEY,
        **topics.env(),
        **{
            f"HASHGATE_TOPICS__{name.upper()}": topics.name(name)
            for name in ("reports_review", "reports_decisions", "reports_outcomes")
        },
        "HASHGATE_TOPICS__DOWNSTREAM_ERRORS": topics.name("downstream_errors"),
        "HASHGATE_TOPICS__PARTITIONS": "4",  # the scan fixture's topics have 4
    }
    worker = scan.start_worker(**env)
    reporting = AgentProcess("reporting", env, tmp_path / "reporting.log").start()
    try:
        await worker.wait_ready()
        await reporting.wait_ready()
        url = scan.images.url(scan.images.images.known[0])
        published = await run_cli(
            {**os.environ, **env}, "uploads", "publish", url, "--tenant", "acme", "--json"
        )
        assert published.code == 0, published.stderr
        result = json.loads(published.stdout)
        assert result["event"]["media_url"] == url and result["event"]["tenant"] == "acme"
        assert result["outcome"]["topic"] == topics.name("verdicts_match")
        assert result["outcome"]["record"]["verdict"] == "match"
        content_id = result["event"]["content_id"]

        (review,) = [
            ReviewRequest.decode(r.value)
            for r in await consume(
                scan.bootstrap, [topics.name("reports_review")], until=bool, timeout_s=30
            )
        ]
        assert review.content_id == content_id and review.is_test
        approved = await run_cli(
            {**os.environ, **env}, "reports", "approve", review.report_id, "--by", "alice"
        )
        assert approved.code == 0, approved.stderr
        (outcome,) = [
            ReportOutcome.decode(r.value)
            for r in await consume(
                scan.bootstrap, [topics.name("reports_outcomes")], until=bool, timeout_s=60
            )
        ]
        assert outcome.status is ReportStatus.FILED, outcome.detail
        assert outcome.is_test
        errors = [line for line in reporting.log_text().splitlines() if '"level": "error"' in line]
        assert errors == [], errors
    finally:
        reporting.kill()
