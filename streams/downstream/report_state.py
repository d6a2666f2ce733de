"""A report as the reporting agent keeps it in its table, and the phases it moves through.

``approved`` is also the filing intent: it reaches Kafka before /Report is called, so an agent
that finds it on a replayed trigger knows a call may have gone out (``maybe_filed``).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict

from streams.events import ReportOutcome, ReviewRequest


class ReportPhase(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    FILED = "filed"
    REJECTED = "rejected"
    FAILED = "failed"
    MAYBE_FILED = "maybe_filed"


#: Phases in which a decision still changes something.
OPEN_PHASES = frozenset(
    {ReportPhase.PENDING, ReportPhase.APPROVED, ReportPhase.FAILED, ReportPhase.MAYBE_FILED}
)


class ReportState(BaseModel):
    """A report as the agent keeps it: what filing needs (never image bytes), which verdict or
    decision brought it to its phase, and the outcome that phase announced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    phase: ReportPhase
    review: ReviewRequest
    trigger_id: str
    outcome: ReportOutcome | None = None
    updated_at: AwareDatetime
