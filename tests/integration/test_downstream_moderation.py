"""The moderation agent on a real broker: policy actions, DLQ, once per verdict across restarts."""

from __future__ import annotations

import signal
from collections import defaultdict
from pathlib import Path

from hashgate_tools.harness.downstream import DownstreamSetup, match_verdict
from streams.errors import ReasonCode
from streams.events import ActionKind, ModerationAction, ScanError, VerdictKind

pytest_plugins = ["tests.integration.downstream_fixtures"]

POLICY = """\
version: 1
rules:
  - name: test-hits
    match: {sources: [Test]}
    actions: [quarantine_content, {open_review_case: integration}]
  - name: globex
    match: {tenants: [globex]}
    actions: [{notify_team: globex-tns}]
  - name: severe
    match: {violations: [A1]}
    actions: [quarantine_content, suspend_uploader]
default:
  actions: [{open_review_case: review}]
"""
URL = "https://cdn.example.com/image.png"


async def test_policy_actions_once_per_verdict_across_replays_and_restarts(
    downstream: DownstreamSetup, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    verdicts = [
        match_verdict(1, URL, flags=(("Test", ("B2",)),)),  # by source
        match_verdict(2, URL, tenant="globex", flags=(("NCMEC", ("A1",)),)),  # by tenant
        match_verdict(3, URL, flags=(("NCMEC", ("A1",)),)),  # by violation
        match_verdict(4, URL, flags=(("NCMEC", ("B1",)),)),  # no rule: the default
    ]
    clear = match_verdict(5, URL).model_copy(update={"verdict": VerdictKind.CLEAR, "matches": []})
    poison = b'{"schema_version": 1, "verdict_id": '
    agent = downstream.start_agent("moderation", HASHGATE_MODERATION__POLICY_FILE=str(policy))
    await agent.wait_ready()

    await downstream.publish([*verdicts, clear.encode(), poison])
    await downstream.publish(verdicts)  # duplicates, as after a producer retry
    await downstream.wait_consumed("moderation", downstream.topics.name("verdicts_match"), 10)

    actions = await downstream.read("moderation_actions", ModerationAction)
    by_event: dict[str, set[tuple[ActionKind, str | None, str]]] = defaultdict(set)
    for action in actions:
        by_event[action.event_id].add((action.action, action.target, action.rule))
    assert dict(by_event) == {
        "evt-0001": {
            (ActionKind.QUARANTINE_CONTENT, None, "test-hits"),
            (ActionKind.OPEN_REVIEW_CASE, "integration", "test-hits"),
        },
        "evt-0002": {(ActionKind.NOTIFY_TEAM, "globex-tns", "globex")},
        "evt-0003": {
            (ActionKind.QUARANTINE_CONTENT, None, "severe"),
            (ActionKind.SUSPEND_UPLOADER, "acct-3", "severe"),
        },
        "evt-0004": {(ActionKind.OPEN_REVIEW_CASE, "review", "default")},
    }
    assert len(actions) == 6 and len({a.action_id for a in actions}) == 6
    errors = await downstream.read("downstream_errors", ScanError)
    assert sorted(e.reason for e in errors) == [ReasonCode.INVALID_EVENT, ReasonCode.UNDECODABLE]
    assert poison in {e.value for e in errors}

    agent.signal(signal.SIGTERM)
    assert await agent.wait_exit() == 0
    restarted = downstream.start_agent("moderation", HASHGATE_MODERATION__POLICY_FILE=str(policy))
    await restarted.wait_ready()
    await downstream.publish(verdicts)  # replayed after the restart
    await downstream.wait_consumed("moderation", downstream.topics.name("verdicts_match"), 14)

    assert len(await downstream.read("moderation_actions", ModerationAction)) == 6
