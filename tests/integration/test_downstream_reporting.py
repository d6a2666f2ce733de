"""The reporting agent on a real broker and the simulator: review gate, /Report calls, dedupe."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from hashgate_tools.harness.downstream import AgentProcess, DownstreamSetup, match_verdict
from hashgate_tools.harness.images import SIMULATOR_KEY, ImageServer
from hashgate_tools.simulator import RunningSimulator, SimulatorAdmin
from streams.events import ReportOutcome, ReportStatus, ReviewRequest, ScanInfo, ScanKind
from tests.integration.reporting_support import NCMEC_PASSWORD, reporting_env

pytest_plugins = ["tests.fixtures.simulator", "tests.integration.downstream_fixtures"]


async def hashgate(agent: AgentProcess, *args: str) -> tuple[int, str]:
    """Run the real ``hashgate`` CLI with the agent's configuration."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams",
        *args,
        env={**os.environ, **agent.env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode()


async def test_approved_reports_are_filed_once_and_rejected_ones_never(
    downstream: DownstreamSetup, simulator: RunningSimulator, image_server: ImageServer
) -> None:
    images = image_server.images
    a = match_verdict(1, image_server.url(images.known[0]), content_id="content-a")
    a_rescan = match_verdict(
        1,
        image_server.url(images.known[0]),
        content_id="content-a",
        scan=ScanInfo(kind=ScanKind.RESCAN, rescan_id="r-1"),
    )
    b = match_verdict(2, image_server.url(images.known[1]), content_id="content-b")
    agent = downstream.start_agent("reporting", **reporting_env(simulator))
    await agent.wait_ready()

    await downstream.publish([a, b, a_rescan, a])  # a rescan match and a duplicate of a
    await downstream.wait_consumed("reporting", downstream.topics.name("verdicts_match"), 4)

    requested = await downstream.read("reports_review", ReviewRequest)
    assert sorted(r.content_id for r in requested) == ["content-a", "content-b"]
    reviews = {r.content_id: r for r in requested}
    code, listing = await hashgate(agent, "reports", "pending", "--json")
    assert code == 0, listing
    pending = [json.loads(line) for line in listing.splitlines()]
    assert {p["report_id"] for p in pending} == {r.report_id for r in reviews.values()}
    assert all(p["status"] == "awaiting review" for p in pending)

    code, said = await hashgate(agent, "reports", "approve", reviews["content-a"].report_id)
    assert code == 0, said
    code, said = await hashgate(
        agent,
        "reports",
        "reject",
        reviews["content-b"].report_id,
        "--reason",
        "benign test image",
        "--by",
        "bob",
    )
    assert code == 0, said
    await downstream.wait_consumed("reporting", downstream.topics.name("reports_decisions"), 2)

    outcomes = {o.content_id: o for o in await downstream.read("reports_outcomes", ReportOutcome)}
    assert outcomes["content-a"].status is ReportStatus.FILED
    assert outcomes["content-a"].is_test and outcomes["content-a"].ncmec_report_id
    assert (outcomes["content-b"].status, outcomes["content-b"].detail) == (
        ReportStatus.REJECTED,
        "benign test image",
    )
    async with SimulatorAdmin(simulator.admin_url) as admin:
        (report,) = await admin.reports()
    assert (report.status_code, report.is_test, report.has_x_usr, report.has_x_pwd) == (
        3000,
        True,
        True,
        True,
    )
    body = report.body
    assert (body["OrgName"], body["ReporterEmail"], body["ReporteeName"]) == (
        "Example Platform",
        "tns@example.com",
        "acct-1",
    )
    assert body["ReporteeIPAddress"] == "198.51.100.23"
    (item,) = body["ViolationContentCollection"]
    assert item["Name"] == "content-a" and item["ValueBytes"] > 1000
    assert {"Key": "HashgateReportId", "Value": reviews["content-a"].report_id} in body[
        "AdditionalMetadata"
    ]
    assert report.tracking_id == outcomes["content-a"].tracking_id

    code, listing = await hashgate(agent, "reports", "pending", "--json")
    assert (code, listing.strip()) == (0, "")
    code, said = await hashgate(agent, "reports", "approve", reviews["content-a"].report_id)
    assert code == 1 and "already filed" in said
    agent.signal(signal.SIGTERM)
    assert await agent.wait_exit() == 0
    log = agent.log_text()
    assert NCMEC_PASSWORD not in log and SIMULATOR_KEY not in log
