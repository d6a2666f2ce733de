"""Writes the review desk's audit events; each is confirmed by Kafka before the request ends.

Each is also counted (``hashgate_review_desk_events_total{action}``), so an operator can alert
on a burst of failed logins without reading the topic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from streams.events import AuditAction, ReviewAudit, ReviewRequest
from streams.kafka.confirmed import ConfirmedWriter


class AuditTrail:
    def __init__(
        self,
        writer: ConfirmedWriter,
        topic: str,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._writer = writer
        self._topic = topic
        self._now = clock
        self.events = Counter(
            "hashgate_review_desk_events",
            "Review desk audit events: logins, failed logins, logouts, reveals, decisions.",
            ["action"],
            registry=registry or CollectorRegistry(),
        )

    async def record(
        self,
        action: AuditAction,
        *,
        actor: str,
        via: str,
        address: str,
        role: str | None = None,
        review: ReviewRequest | None = None,
        **details: Any,
    ) -> ReviewAudit:
        about = (
            {
                "report_id": review.report_id,
                "tenant": review.tenant,
                "content_id": review.content_id,
            }
            if review
            else {}
        )
        event = ReviewAudit(
            action=action,
            actor=actor[:256],
            role=role,
            via=via,
            address=address,
            at=self._now(),
            **about,
            **details,
        )
        await self._writer.write(self._topic, event.actor.encode(), event.encode(), [])
        self.events.labels(action.value).inc()
        return event
