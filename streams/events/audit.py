"""What reviewers did on the review desk: logins, image reveals and decisions, for the record.

Reviewing suspected abuse material is sensitive work: who looked at which image, who decided and
who tried to get in must be answerable later. Each of those is one ``ReviewAudit`` event.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from streams.events.base import Event
from streams.events.reporting import ReviewChoice


class AuditAction(StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    REVEAL = "reveal"
    DECISION = "decision"


class ReviewAudit(Event):
    """Emitted to ``reports.audit`` for every login (success or failure), logout, image reveal
    and decision on the review desk; key: the actor's name."""

    schema_name = "review_audit"

    schema_version: Literal[1] = 1
    audit_id: str = Field(default_factory=lambda: str(uuid.uuid4()), description="uuid4.")
    action: AuditAction
    actor: str = Field(
        max_length=256,
        description="Who: the reviewer, or for a failed login the name that was tried.",
    )
    role: str | None = Field(None, description="The actor's role; null for a failed login.")
    via: Literal["password", "proxy"] = Field(description="How the actor was authenticated.")
    address: str = Field(
        description="The client's address; behind a trusted proxy, from X-Forwarded-For."
    )
    report_id: str | None = Field(None, description="The report concerned (reveal, decision).")
    tenant: str | None = None
    content_id: str | None = None
    decision: ReviewChoice | None = None
    decision_id: str | None = Field(None, description="The ReviewDecision it published.")
    detail: str | None = Field(None, description="Why a login failed; a rejection's reason.")
    at: AwareDatetime
