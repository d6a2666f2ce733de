"""Moderation actions: one per policy action, with ids a platform can de-duplicate on."""

from __future__ import annotations

import pytest

from streams.downstream.moderation import ModerationSink
from streams.downstream.policy import parse_policy
from streams.events import ActionKind, ModerationAction, ScanInfo, ScanKind
from tests.support import NOW, RecordingWriter, agent_writer_of, make_verdict, record_of

pytestmark = pytest.mark.unit

TOPIC = "moderation.actions"
POLICY = parse_policy(
    """\
version: 1
rules:
  - name: severe
    match: {violations: [A1]}
    actions:
      - quarantine_content
      - suspend_uploader
      - notify_team: oncall
default:
  actions: [open_review_case: review]
"""
)


async def actions_for(*verdicts: object) -> list[ModerationAction]:
    publisher = RecordingWriter()
    sink = ModerationSink(POLICY, agent_writer_of(publisher), TOPIC, clock=lambda: NOW)
    for verdict in verdicts:
        await sink.handle(verdict, record_of(verdict))  # type: ignore[arg-type]
    return [ModerationAction.decode(v) for v in publisher.on(TOPIC)]


async def test_each_action_of_the_deciding_rule_becomes_one_event() -> None:
    verdict = make_verdict(7, flags=(("NCMEC", ("A1", "B1")), ("Test", ("A2",))))

    actions = await actions_for(verdict)

    assert [(a.action, a.target) for a in actions] == [
        (ActionKind.QUARANTINE_CONTENT, None),
        (ActionKind.SUSPEND_UPLOADER, "acct-7"),
        (ActionKind.NOTIFY_TEAM, "oncall"),
    ]
    first = actions[0]
    assert (first.rule, first.verdict_id, first.content_id, first.tenant) == (
        "severe",
        verdict.verdict_id,
        "content-7",
        "acme",
    )
    assert first.sources == ["NCMEC", "Test"] and first.violations == ["A1", "A2", "B1"]
    assert first.account_id == "acct-7" and first.tracking_id == "WUS_7"


async def test_action_ids_are_deterministic_and_distinct() -> None:
    verdict = make_verdict(1)
    once, again = await actions_for(verdict), await actions_for(verdict)
    assert [a.action_id for a in once] == [a.action_id for a in again]
    assert len({a.action_id for a in once}) == len(once)


async def test_a_rescan_of_the_same_upload_gets_new_action_ids() -> None:
    live = await actions_for(make_verdict(1))
    rescan = await actions_for(make_verdict(1, scan=ScanInfo(kind=ScanKind.RESCAN, rescan_id="r1")))
    assert not {a.action_id for a in live} & {a.action_id for a in rescan}
    assert rescan[0].scan.rescan_id == "r1"


async def test_a_verdict_no_rule_fits_gets_the_default_actions() -> None:
    (action,) = await actions_for(make_verdict(2, flags=(("Test", ("B2",)),)))
    assert (action.action, action.target, action.rule) == (
        ActionKind.OPEN_REVIEW_CASE,
        "review",
        "default",
    )
