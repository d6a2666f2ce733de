"""kill -9 in the middle of 50,000 verdicts: moderation acts on each once, stats count exactly.

Both agents keep their tables in RocksDB (the default store) under the test's state directory,
and are killed with SIGKILL while they work through the backlog, then restarted on the same
directory. An action is identified by its ``action_id``: a record handled again after the kill
(its ack was lost with the process) may write an action once more under the same id, which
consumers de-duplicate; at most one such record per kill (each agent handles one at a time).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from pathlib import Path

from aiokafka.errors import GroupCoordinatorNotAvailableError

from hashgate_tools.harness.downstream import AgentProcess, DownstreamSetup, match_verdict
from hashgate_tools.harness.kafka import committed_offsets
from streams.events import MatchCount, ModerationAction

pytest_plugins = ["tests.integration.downstream_fixtures"]

VERDICTS = 50_000
#: Each agent is killed once it has committed at least this many verdicts.
KILL_AFTER = 15_000
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


async def kill_when_past(downstream: DownstreamSetup, role: str, agent: AgentProcess) -> None:
    async with asyncio.timeout(240):
        while await consumed(downstream, role) < KILL_AFTER:
            agent.check_running()
            await asyncio.sleep(0.2)
    agent.kill()  # SIGKILL: no shutdown, no last commit


def state_mib(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) / 1024


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
    for role in agents:
        downstream.start_agent(role, **env)
        await downstream.wait_consumed(
            role, downstream.topics.name("verdicts_match"), VERDICTS, within=300
        )
    by_tenant = f"{downstream.topics.group('stats')}-matches-by-tenant"
    await downstream.wait_consumed("stats", by_tenant, VERDICTS, within=120)

    actions = await downstream.read("moderation_actions", ModerationAction)
    per_id = Counter(a.action_id for a in actions)
    assert {a.verdict_id for a in actions} == {v.verdict_id for v in verdicts}  # none lost
    assert len(per_id) == VERDICTS  # one action per verdict by the policy
    assert len(actions) - len(per_id) <= 1, per_id.most_common(3)  # the one in flight at most

    figures = {c.key: c for c in await downstream.read("stats", MatchCount)}  # newest per key
    counts = {(c.tenant, c.source): c.matches for c in figures.values()}
    assert counts == {("acme", None): VERDICTS, ("acme", "Test"): VERDICTS}

    state = tmp_path / "state"
    sizes = {d.name: f"{state_mib(d):.1f} MiB" for d in sorted(state.iterdir())}
    print(f"state directories after {VERDICTS:,} verdicts: {sizes}")
