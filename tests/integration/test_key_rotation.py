"""The runbook's key rotation, for the second process that holds the key: the reporting agent.

A refused key stops the agent with 78 at its next approval, leaves that approval unacked and
never logs the key; restarted with the right key, the agent files the report it held.
"""

from __future__ import annotations

from streams.errors import EX_CONFIG
from streams.events import ReportOutcome, ReportStatus, ReviewRequest
from streams.simulator import RunningSimulator
from tests.fixtures.simulator_support import SIMULATOR_KEY, ImageServer
from tests.integration.downstream_harness import DownstreamSetup, match_verdict
from tests.integration.rescan_support import run_cli

pytest_plugins = ["tests.fixtures.simulator", "tests.integration.downstream_fixtures"]

OLD_KEY = "rotated-away-key-1c9e"


async def test_a_reporting_agent_with_a_refused_key_exits_78_and_files_after_rotation(
    downstream: DownstreamSetup, simulator: RunningSimulator, image_server: ImageServer
) -> None:
    reporting = {
        "HASHGATE_PHOTODNA__ENDPOINT": simulator.base_url,
        "HASHGATE_REPORTING__ORG_NAME": "Example Platform",
        "HASHGATE_REPORTING__REPORTER_NAME": "Trust and Safety",
        "HASHGATE_REPORTING__REPORTER_EMAIL": "tns@example.com",
        "HASHGATE_MEDIA__ALLOW_HOSTS": '["127.0.0.1"]',
    }
    agent = downstream.start_agent(
        "reporting", **reporting, HASHGATE_PHOTODNA__SUBSCRIPTION_KEY=OLD_KEY
    )
    await agent.wait_ready()
    verdict = match_verdict(1, image_server.url(image_server.images.known[0]))
    await downstream.publish([verdict])
    await downstream.wait_consumed("reporting", downstream.topics.name("verdicts_match"), 1)
    (review,) = await downstream.read("reports_review", ReviewRequest)

    approved = await run_cli(agent.env, "reports", "approve", review.report_id, "--by", "alice")
    assert approved.code == 0, approved.stderr
    assert await agent.wait_exit(within=60) == EX_CONFIG
    assert OLD_KEY not in agent.log_text()
    assert await downstream.read("reports_outcomes", ReportOutcome) == []

    rotated = downstream.start_agent(
        "reporting", **reporting, HASHGATE_PHOTODNA__SUBSCRIPTION_KEY=SIMULATOR_KEY
    )
    try:
        await downstream.wait_consumed(
            "reporting", downstream.topics.name("reports_decisions"), 1, within=120
        )
    except AssertionError as exc:  # say what the agent was doing (one slow run in a full suite)
        raise AssertionError(f"{exc}\n{rotated.log_tail(60)}") from None
    (outcome,) = await downstream.read("reports_outcomes", ReportOutcome)
    assert outcome.status is ReportStatus.FILED, outcome.detail
    assert rotated.proc is not None and rotated.proc.poll() is None
