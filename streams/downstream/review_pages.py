"""What a reviewer sees of a report, the same in ``hashgate reports pending`` and the review desk.

The desk itself (authenticated pages and endpoints on the agent's web port) is
``streams.downstream.reviewdesk``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from streams.downstream.report_state import ReportState
from streams.events import ReviewRequest
from streams.observability.redact import redact_url


class ReviewDesk(Protocol):
    """The reports the agent instance holds (the reporting agent's ReportBook)."""

    def get(self, report_id: str) -> ReportState | None: ...

    def pending(self) -> list[ReportState]: ...


def review_summary(review: ReviewRequest) -> dict[str, Any]:
    """What a reviewer needs to find the content; the image URL only redacted."""
    return {
        "report_id": review.report_id,
        "tenant": review.tenant,
        "content_id": review.content_id,
        "event_id": review.event_id,
        "tracking_id": review.tracking_id,
        "media": redact_url(str(review.media_url)),
        "matches": [m.model_dump(mode="json") for m in review.matches],
        "sources": sorted({m.source for m in review.matches}),
        "violations": sorted({v for m in review.matches for v in m.violations}),
        "is_test": review.is_test,
        "uploaded_at": review.uploaded_at.isoformat(),
        "requested_at": review.requested_at.isoformat(),
    }


def waiting_s(review: ReviewRequest, now: datetime) -> float:
    return max(0.0, (now - review.requested_at).total_seconds())
