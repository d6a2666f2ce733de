"""kill -9 mid-backlog: moderation acts on each verdict once, stats count exactly, and
reporting files each report once or flags it ``maybe_filed``.

Both agents keep their tables in RocksDB (the default store) under the test's state directory,
and are killed with SIGKILL while they work through the backlog, then restarted on the same
directory. Both run with Kafka transactions (``HASHGATE_STATE__EXACTLY_ONCE``, the default):
read committed, as their consumers read it, the actions topic holds each action exactly once,
not merely once per ``action_id``, and the stats topic's counts are exact. The writes of the
transaction the kill cut off are aborted, and the tables' RocksDB files never held them
(streams/kafka/transactions.py, streams/kafka/transactional_store.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.errors import GroupCoordinatorNotAvailableError

from hashgate_tools.harness.downstream import AgentProcess, DownstreamSetup, match_verdict
from hashgate_tools.harness.images import ImageServer, start_simulator
from hashgate_tools.harness.kafka import committed_offsets
from hashgate_tools.simulator import RunningSimulator, SimulatorAdmin
from streams.events import MatchCount, ModerationAction, ReportOutcome, ReportStatus
from tests.integration.reporting_support import reporting_env

pytest_plugins = ["tests.fixtures.simulator", "tests.integration.downstream_fixtures"]

#: 600 in `make test`; `make test-soak` runs the same tests with 50,000 (SOAK_VERDICTS).
#: Each agent handles one record at a time and waits for its writes to be confirmed, about
#: 100 records/s on 2 cores (docs/operations.md, "Limits"); nothing in the mechanism depends
#: on the count.
VERDICTS = int(os.environ.get("SOAK_VERDICTS", "600"))
#: Each agent is killed once it has committed at least this many verdicts.
KILL_AFTER = VERDICTS * 3 // 10
#: How long an agent may take for the whole backlog: 10 records/s at least, 240 s at least.
WITHIN_S = max(240.0, VERDICTS / 10)
POLICY = """\
version: 1
rules:
  - name: test-hits
    match: {sources: [Test]}
    actions: [quarantine_content]
default:
  actions: [{open_review_case: review}]
"""
URL = "https://cdn.example.com/image.png"


async def consumed(downstream: DownstreamSetup, role: str) -> int:
    topic, group = downstream.topics.name("verdicts_match"), downstream.topics.group(role)
    try:
        offsets = await committed_offsets(downstream.bootstrap, group, topic)
    except GroupCoordinatorNotAvailableError:  # the broker's offsets topic is not up yet
        return 0
    return sum(offsets.values())


async def kill_when_past(
    downstream: DownstreamSetup, role: str, agent: AgentProcess, done: int = KILL_AFTER
) -> None:
    async with asyncio.timeout(WITHIN_S):
        while await consumed(downstream, role) < done:
            agent.check_running()
            await asyncio.sleep(0.2)
    agent.kill()  # SIGKILL: no shutdown, no last commit


def state_mib(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) / 1024


@pytest.mark.timeout(max(600, 4 * WITHIN_S))  # a shared, loaded machine needs more than 300 s
async def test_kill_9_mid_backlog_loses_and_doubles_nothing(
    downstream: DownstreamSetup, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {"HASHGATE_MODERATION__POLICY_FILE": str(policy), "HASHGATE_LOG_LEVEL": "WARNING"}
    verdicts = [match_verdict(n, URL) for n in range(VERDICTS)]
    await downstream.publish(verdicts)
    agents = {role: downstream.start_agent(role, **env) for role in ("moderation", "stats")}

    await asyncio.gather(*(kill_when_past(downstream, r, a) for r, a in agents.items()))
    for role, killed in agents.items():  # the same port, so the same state directory
        downstream.start_agent(role, **env, HASHGATE_WEB__PORT=str(killed.port))
    for role in agents:
        await downstream.wait_consumed(
            role, downstream.topics.name("verdicts_match"), VERDICTS, within=WITHIN_S
        )
    by_tenant = f"{downstream.topics.group('stats')}-matches-by-tenant"
    # Exactly once in the stats agent's own re-keyed topic too, which no "seen" mark guards
    # (a rebalance once let one verdict in twice: docs/operations.md, "How the transactions work")
    rekeyed = await downstream.wait_caught_up("stats", by_tenant, within=WITHIN_S)
    assert rekeyed == VERDICTS

    actions = await downstream.read("moderation_actions", ModerationAction)
    per_id = Counter(a.action_id for a in actions)
    assert {a.verdict_id for a in actions} == {v.verdict_id for v in verdicts}  # none lost
    assert len(per_id) == VERDICTS  # one action per verdict by the policy
    assert len(actions) == VERDICTS, per_id.most_common(3)  # none doubled, not even by id

    figures = {c.key: c for c in await downstream.read("stats", MatchCount)}  # newest per key
    counts = {(c.tenant, c.source): c.matches for c in figures.values()}
    assert counts == {("acme", None): VERDICTS, ("acme", "Test"): VERDICTS}

    state = tmp_path / "state"
    sizes = {d.name: f"{state_mib(d):.1f} MiB" for d in sorted(state.iterdir())}
    print(f"state directories after {VERDICTS:,} verdicts: {sizes}")


#: Reports filed in the reporting test, each fetching an image and calling /Report: 60 with
#: calls of 100 ms in `make test`; at soak size every verdict, with calls of 10 ms (a kill still
#: most likely lands during one), about 50 ms a report on 2 cores instead of 150.
SOAK = "SOAK_VERDICTS" in os.environ
REPORTS = VERDICTS if SOAK else 60
CALL_MS = 10 if SOAK else 100


@pytest.fixture
async def every_report_kept() -> AsyncIterator[RunningSimulator]:
    """A simulator that keeps every report the test files (by default it keeps the last 1,000:
    at soak size the test's checks of the filed reports would read only those)."""
    async with start_simulator(reports_kept=REPORTS) as running:
        yield running


@pytest.mark.timeout(max(600, 4 * WITHIN_S))
async def test_kill_9_during_report_calls_files_each_once_or_flags_it(
    downstream: DownstreamSetup,
    every_report_kept: RunningSimulator,
    image_server: ImageServer,
    tmp_path: Path,
) -> None:
    simulator = every_report_kept
    url = image_server.url(image_server.images.known[0])
    verdicts = [match_verdict(n, url) for n in range(REPORTS)]
    env = {**reporting_env(simulator), "HASHGATE_REPORTING__REVIEW_GATE": "false"}
    async with SimulatorAdmin(simulator.admin_url) as admin:
        await admin.set_faults(latency={"kind": "fixed", "ms": CALL_MS})  # calls in flight
        await downstream.publish(verdicts)
        agent = downstream.start_agent("reporting", **env)
        await kill_when_past(downstream, "reporting", agent, done=REPORTS // 3)
        # the same port, so the same state directory
        downstream.start_agent("reporting", **env, HASHGATE_WEB__PORT=str(agent.port))
        await downstream.wait_consumed(
            "reporting", downstream.topics.name("verdicts_match"), REPORTS, within=WITHIN_S
        )
        received = await admin.reports()

    calls = Counter(
        item["Value"]
        for report in received
        for item in report.body["AdditionalMetadata"]
        if item["Key"] == "HashgateReportId"
    )
    outcomes = {o.report_id: o for o in await downstream.read("reports_outcomes", ReportOutcome)}
    assert len(outcomes) == REPORTS  # every report has an outcome
    assert max(calls.values()) == 1, calls.most_common(3)  # none filed twice
    flagged = {r for r, o in outcomes.items() if o.status is ReportStatus.MAYBE_FILED}
    filed = {r for r, o in outcomes.items() if o.status is ReportStatus.FILED}
    assert filed | flagged == set(outcomes) and len(flagged) <= 1  # the one call in flight
    assert filed <= set(calls)  # filed means PhotoDNA took it

    state = tmp_path / "state"
    sizes = {d.name: f"{state_mib(d):.1f} MiB" for d in sorted(state.iterdir())}
    print(f"state directories after {REPORTS:,} reports: {sizes}")
