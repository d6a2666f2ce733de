"""The reporting agent's HTTP endpoints for reviewers, on its web port.

``GET /reports/pending`` lists the reports this instance holds that wait for a decision;
``POST /reports/{id}/approve`` and ``POST /reports/{id}/reject`` (JSON body ``{"reason": ...,
"by": ...}``, a reason is required to reject) publish a decision to ``reports.decisions``,
exactly as ``hashgate reports approve|reject`` does; the agent then files or closes the report.
The endpoints have no authentication of their own: keep the port on loopback or behind a proxy
that authenticates reviewers.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import faust
from faust.web import Request, Response, View
from pydantic import ValidationError

from streams.downstream.decisions import make_decision
from streams.downstream.emitter import Emitter
from streams.downstream.report_state import OPEN_PHASES, ReportState
from streams.events import ReviewChoice, ReviewRequest
from streams.observability.redact import redact_url
from streams.settings import TopicSettings

HTTP_REVIEWER = "http"


class ReviewDesk(Protocol):
    def get(self, report_id: str) -> ReportState | None: ...

    def pending(self) -> list[ReportState]: ...


def review_summary(review: ReviewRequest) -> dict[str, Any]:
    """What a reviewer needs to find the content; the image URL only redacted."""
    return {
        "report_id": review.report_id,
        "tenant": review.tenant,
        "content_id": review.content_id,
        "event_id": review.event_id,
        "media": redact_url(str(review.media_url)),
        "matches": [m.model_dump(mode="json") for m in review.matches],
        "is_test": review.is_test,
        "requested_at": review.requested_at.isoformat(),
    }


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def install_review_pages(
    app: faust.App, desk: ReviewDesk, emitter: Emitter, topics: TopicSettings
) -> None:
    @app.page("/reports/pending")
    async def pending(self: View, request: Request) -> Response:
        return self.json({"reports": [review_summary(s.review) for s in desk.pending()]})

    @app.page("/reports/{report_id}/{choice}")
    class Decide(View):
        async def post(self, request: Request, report_id: str, choice: str) -> Response:
            if choice not in {c.value for c in ReviewChoice}:
                return self.error(404, f"unknown decision {choice!r}: approve or reject")
            state = desk.get(report_id)
            if state is None:
                return self.error(
                    404, "no such report on this instance; `hashgate reports pending` lists all"
                )
            if state.phase not in OPEN_PHASES:
                return self.error(409, f"report already {state.phase.value}")
            try:
                body = await _json_body(request)
                decision = make_decision(
                    state.review,
                    ReviewChoice(choice),
                    by=str(body.get("by") or HTTP_REVIEWER),
                    reason=body.get("reason"),
                )
            except (ValueError, ValidationError) as exc:
                return self.error(400, _first_problem(exc))
            await emitter.emit(topics.reports_decisions, decision.content_id.encode(), decision)
            return self.json(
                {
                    "decision_id": decision.decision_id,
                    "report_id": report_id,
                    "decision": decision.decision.value,
                },
                status=202,
            )


def _first_problem(exc: ValueError | ValidationError) -> str:
    if isinstance(exc, ValidationError):
        return str(exc.errors(include_url=False, include_input=False)[0]["msg"])
    return str(exc)
