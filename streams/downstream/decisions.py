"""An operator's decision on a report, made the same way by the CLI and the HTTP endpoint."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from streams.events import ReviewChoice, ReviewDecision, ReviewRequest


def make_decision(
    review: ReviewRequest,
    choice: ReviewChoice,
    *,
    by: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> ReviewDecision:
    """Raises pydantic's ValidationError for a rejection without a reason or an empty ``by``."""
    return ReviewDecision(
        decision_id=str(uuid.uuid4()),
        report_id=review.report_id,
        tenant=review.tenant,
        content_id=review.content_id,
        decision=choice,
        reason=reason,
        decided_by=by,
        decided_at=now or datetime.now(UTC),
    )
