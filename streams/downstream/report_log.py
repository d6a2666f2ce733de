"""Where every report stands, read from the topics themselves, for operators' tools.

The CLI must work without the agent running and whichever instance holds a report, so it reads
``reports.review``, ``reports.decisions`` and ``reports.outcomes`` from the beginning to their
current end and replays them: the newest decision and outcome per report decide its status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from streams.errors import EventDecodeError
from streams.events import (
    ReportOutcome,
    ReportStatus,
    ReviewChoice,
    ReviewDecision,
    ReviewRequest,
)
from streams.kafka.spans import read_to_end
from streams.settings import KafkaSettings, TopicSettings

E = TypeVar("E", ReviewRequest, ReviewDecision, ReportOutcome)

PAST_TENSE = {ReviewChoice.APPROVE: "approved", ReviewChoice.REJECT: "rejected"}

#: Outcomes after which a report takes no more decisions.
FINAL = frozenset({ReportStatus.FILED, ReportStatus.REJECTED})


@dataclass
class ReportView:
    review: ReviewRequest
    decision: ReviewDecision | None = None
    outcome: ReportOutcome | None = None

    @property
    def closed(self) -> bool:
        return self.outcome is not None and self.outcome.status in FINAL

    @property
    def status(self) -> str:
        outcome = self._latest_outcome()
        if outcome is not None:
            if outcome.status is ReportStatus.MAYBE_FILED:
                return f"maybe filed: {outcome.detail}"
            if outcome.status is not ReportStatus.FAILED:
                return outcome.status.value
            if outcome.retrying:
                return f"failed, retrying by itself: {outcome.detail}"
            return f"failed, approve again to retry: {outcome.detail}"
        if self.decision is not None:
            verb = PAST_TENSE[self.decision.decision]
            return f"{verb} by {self.decision.decided_by}, waiting for the agent"
        return "awaiting review"

    def _latest_outcome(self) -> ReportOutcome | None:
        """The outcome, unless a newer decision has not been acted on yet."""
        if self.outcome is None or self.decision is None:
            return self.outcome
        return self.outcome if self.outcome.decision_id == self.decision.decision_id else None


def build_views(
    reviews: Iterable[ReviewRequest],
    decisions: Iterable[ReviewDecision],
    outcomes: Iterable[ReportOutcome],
) -> dict[str, ReportView]:
    """Each report's view; later decisions and outcomes (in topic order) replace earlier ones."""
    views: dict[str, ReportView] = {}
    for review in reviews:
        views.setdefault(review.report_id, ReportView(review))
    for decision in decisions:
        if decision.report_id in views:
            views[decision.report_id].decision = decision
    for outcome in outcomes:
        if outcome.report_id in views:
            views[outcome.report_id].outcome = outcome
    return views


async def read_views(
    kafka: KafkaSettings, topics: TopicSettings, *, within_s: float = 60.0
) -> dict[str, ReportView]:
    names = [topics.reports_review, topics.reports_decisions, topics.reports_outcomes]
    records = await read_to_end(kafka, names, within_s=within_s)
    by_topic: dict[str, list[bytes]] = {name: [] for name in names}
    for record in records:
        if record.value is not None:
            by_topic[record.topic].append(record.value)
    return build_views(
        _decoded(ReviewRequest, by_topic[topics.reports_review]),
        _decoded(ReviewDecision, by_topic[topics.reports_decisions]),
        _decoded(ReportOutcome, by_topic[topics.reports_outcomes]),
    )


def _decoded(model: type[E], values: list[bytes]) -> list[E]:
    """Records that do not decode are skipped here: the agent has already refused them."""
    events = []
    for value in values:
        try:
            events.append(model.decode(value))
        except EventDecodeError:
            continue
    return events
