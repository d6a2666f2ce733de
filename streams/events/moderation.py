"""What the moderation agent tells a platform to do about a matched upload."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from streams.events.base import Event
from streams.events.upload import Id
from streams.events.verdict import ScanInfo

#: Namespace of action ids; never change it, platforms de-duplicate on the ids it yields.
ACTION_NAMESPACE = uuid.UUID("8b1f7e2a-3c4d-4e5f-9a6b-7c8d9e0f1a2b")


class ActionKind(StrEnum):
    QUARANTINE_CONTENT = "quarantine_content"
    SUSPEND_UPLOADER = "suspend_uploader"
    OPEN_REVIEW_CASE = "open_review_case"
    NOTIFY_TEAM = "notify_team"


def action_id_for(verdict_id: str, action: ActionKind, target: str | None) -> str:
    """Same verdict + same action gives the same id, so a replayed verdict repeats its ids."""
    name = f"{verdict_id}\x1f{action.value}\x1f{target or ''}"
    return str(uuid.uuid5(ACTION_NAMESPACE, name))


class ModerationAction(Event):
    """Emitted to ``moderation.actions``, one per action a policy rule asks for; key
    ``content_id``. Platforms carry the action out, reading with
    ``isolation.level=read_committed``: the agent writes in Kafka transactions, so each action
    arrives once, even across a crash of the agent. ``action_id`` stays the same for the same
    verdict and action (a deliberate replay, or exactly-once turned off), so de-duplicating on
    it remains safe."""

    schema_name = "moderation_action"

    schema_version: Literal[1] = 1
    action_id: str = Field(description="Deterministic: uuid5 of verdict id, action and target.")
    action: ActionKind
    target: str | None = Field(
        None,
        description="open_review_case: the queue; notify_team: the team; suspend_uploader: "
        "the account id (null if the upload named none); quarantine_content: null.",
    )
    rule: str = Field(description="The policy rule that asked for it ('default' if none did).")
    verdict_id: str
    event_id: Id
    tenant: Id
    content_id: Id
    account_id: str | None = Field(None, description="The uploader's account, if known.")
    sources: list[str] = Field(default_factory=list, description="Match sources (hash lists).")
    violations: list[str] = Field(default_factory=list, description="Violation classes.")
    tracking_id: str = Field(description="PhotoDNA's TrackingId of the matching call.")
    scan: ScanInfo = Field(default_factory=ScanInfo)
    decided_at: AwareDatetime = Field(description="When the agent applied the policy.")
