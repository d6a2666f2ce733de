"""The NCMEC report flow: a report waits for review, an operator decides, the outcome is kept.

A report is identified by its content, not by a verdict: a live match and a later rescan match of
the same upload are one report, so NCMEC hears about each piece of content once.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Literal, Self

from pydantic import AwareDatetime, Field, HttpUrl, model_validator

from streams.events.base import Event
from streams.events.upload import Id, Uploader
from streams.events.verdict import MatchDetail

#: Namespace of report and outcome ids; never change it, operators refer to reports by these.
REPORT_NAMESPACE = uuid.UUID("c3a9d5e1-6f2b-4a8c-b7d0-1e2f3a4b5c6d")


def report_id_for(tenant: str, content_id: str) -> str:
    """One report per tenant and content, whichever verdict asked for it first."""
    return str(uuid.uuid5(REPORT_NAMESPACE, f"{tenant}\x1f{content_id}"))


class ReviewChoice(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ReportStatus(StrEnum):
    FILED = "filed"
    REJECTED = "rejected"
    FAILED = "failed"
    #: The agent stopped between writing its filing intent and hearing PhotoDNA's answer: the
    #: report may or may not be at NCMEC. Never filed again by itself; an operator checks and
    #: approves again (files it) or rejects (it was filed).
    MAYBE_FILED = "maybe_filed"


class ReviewRequest(Event):
    """Emitted to ``reports.review`` when a match needs a human decision before it is reported;
    key ``content_id``. Decide with ``hashgate reports approve|reject REPORT_ID``."""

    schema_name = "review_request"

    schema_version: Literal[1] = 1
    report_id: str = Field(description="Deterministic: uuid5 of tenant and content id.")
    verdict_id: str = Field(description="The match verdict that opened the report.")
    event_id: Id
    tenant: Id
    content_id: Id
    tracking_id: str = Field(description="PhotoDNA's TrackingId of the matching call.")
    matches: list[MatchDetail] = Field(default_factory=list)
    media_url: HttpUrl = Field(description="Where the reviewer's tools find the image.")
    uploaded_at: AwareDatetime
    uploader: Uploader | None = None
    is_test: bool = Field(description="Whether the report would go to NCMEC's test tipline.")
    requested_at: AwareDatetime


class ReviewDecision(Event):
    """An operator's decision, emitted to ``reports.decisions`` by the CLI or the agent's review
    desk; key ``content_id`` (so it reaches the agent instance that holds the report)."""

    schema_name = "review_decision"

    schema_version: Literal[1] = 1
    decision_id: str = Field(description="Unique per decision (uuid4).")
    report_id: str
    tenant: Id
    content_id: Id
    decision: ReviewChoice
    reason: str | None = Field(None, description="Why; required for a rejection.")
    decided_by: Id = Field(description="Who decided (operator name).")
    decided_at: AwareDatetime

    @model_validator(mode="after")
    def _rejection_has_reason(self) -> Self:
        if self.decision is ReviewChoice.REJECT and not (self.reason or "").strip():
            raise ValueError("a rejection needs a reason")
        return self


def outcome_id_for(
    report_id: str, trigger_id: str, status: ReportStatus, *, retrying: bool = False
) -> str:
    """Replaying what triggered an outcome yields the same id, so readers can de-duplicate."""
    kind = f"{status.value}+retrying" if retrying else status.value
    return str(uuid.uuid5(REPORT_NAMESPACE, f"{report_id}\x1f{trigger_id}\x1f{kind}"))


class ReportOutcome(Event):
    """Emitted to ``reports.outcomes`` for every outcome of a report; key ``content_id``.

    ``failed`` with ``retrying: true`` means the report will be tried again by itself; with
    ``retrying: false`` it stays unfiled until an operator approves it again. ``maybe_filed``:
    the agent crashed during the /Report call; it files nothing more until an operator decides.
    """

    schema_name = "report_outcome"

    schema_version: Literal[1] = 1
    outcome_id: str = Field(
        description="Deterministic: uuid5 of report, trigger (verdict or decision) and status."
    )
    report_id: str
    verdict_id: str
    tenant: Id
    content_id: Id
    status: ReportStatus
    retrying: bool = Field(False, description="For failed: whether it is retried by itself.")
    detail: str | None = Field(None, description="Why it was rejected or failed; no secrets.")
    decision_id: str | None = Field(None, description="The decision acted on; null: no review.")
    decided_by: str | None = None
    is_test: bool = Field(description="True: filed to NCMEC's test environment (IsTest).")
    ncmec_report_id: str | None = Field(None, description="The ReportId PhotoDNA answered.")
    tracking_id: str | None = Field(None, description="PhotoDNA's TrackingId of the /Report call.")
    at: AwareDatetime
