"""The moderation agent: turns each match verdict into the actions the policy asks for.

One ``ModerationAction`` per action, keyed ``content_id``, with an ``action_id`` derived from
the verdict id and the action: a verdict handled twice (a crash before its ack) yields the same
ids, and the agent's idempotency table keeps a replayed verdict from being handled twice at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from streams.downstream.app import DownstreamApp
from streams.downstream.base import VerdictSink
from streams.downstream.policy import ActionSpec, Policy, load_policy
from streams.errors import ConfigurationError
from streams.events import ActionKind, ModerationAction, Verdict, action_id_for
from streams.events.topics import MODERATION
from streams.kafka.confirmed import ConfirmedWriter
from streams.kafka.record import SourceRecord
from streams.settings import Settings, load_settings

log = logging.getLogger(__name__)

ROLE = "moderation"


def actions_for(
    verdict: Verdict, rule: str, specs: list[ActionSpec], now: datetime
) -> list[ModerationAction]:
    account = verdict.uploader.account_id if verdict.uploader else None
    sources = sorted({m.source for m in verdict.matches})
    violations = sorted({v for m in verdict.matches for v in m.violations})
    actions = []
    for spec in specs:
        target = account if spec.kind is ActionKind.SUSPEND_UPLOADER else spec.target
        actions.append(
            ModerationAction(
                action_id=action_id_for(verdict.verdict_id, spec.kind, target),
                action=spec.kind,
                target=target,
                rule=rule,
                verdict_id=verdict.verdict_id,
                event_id=verdict.event_id,
                tenant=verdict.tenant,
                content_id=verdict.content_id,
                account_id=account,
                sources=sources,
                violations=violations,
                tracking_id=verdict.tracking_id,
                scan=verdict.scan,
                decided_at=now,
            )
        )
    return actions


class ModerationSink(VerdictSink):
    def __init__(
        self,
        policy: Policy,
        writer: ConfirmedWriter,
        topic: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.policy = policy
        self._writer = writer
        self._topic = topic
        self._now = clock

    async def handle_match(self, verdict: Verdict, source: SourceRecord) -> None:
        rule, specs = self.policy.decide(verdict)
        actions = actions_for(verdict, rule, specs, self._now())
        for action in actions:
            await self._writer.write(self._topic, verdict.content_id.encode(), action.encode(), [])
        log.info(
            "moderation actions emitted",
            extra={
                "content_id": verdict.content_id,
                "tenant": verdict.tenant,
                "rule": rule,
                "actions": [a.action.value for a in actions],
            },
        )


def policy_of(settings: Settings) -> Policy:
    path = settings.moderation.policy_file
    if path is None:
        raise ConfigurationError("HASHGATE_MODERATION__POLICY_FILE is required by the agent")
    return load_policy(path)


def build_moderation(settings: Settings, **faust_overrides: Any) -> DownstreamApp:
    policy = policy_of(settings)
    downstream = DownstreamApp(
        settings, ROLE, MODERATION, exactly_once=settings.state.exactly_once, **faust_overrides
    )
    topics = downstream.settings.topics
    sink = ModerationSink(policy, downstream.writer_for(ROLE), topics.moderation_actions)
    downstream.add_loop(ROLE, topics.verdicts_match, sink)
    return downstream


@click.command(ROLE)
@click.option("--check", is_flag=True, help="Only validate the policy file, then exit.")
def moderation_command(check: bool) -> None:
    """Run the moderation agent (match verdicts -> moderation actions, by policy)."""
    settings = load_settings()
    if check:
        policy = policy_of(settings)
        click.echo(f"policy OK: {len(policy.rules)} rules and a default")
        return
    build_moderation(settings).run()
