"""The reporting agent: one NCMEC report per matched content, filed after a human approves it.

Two loops share one table of reports (key: report id, derived from tenant and content id):

    match verdict ──► pending ──(reports.review)──► operator decides (CLI or HTTP)
                                                          │ reports.decisions
                      approve ──► approved ──► /Report ──► filed   ─┐
                      reject  ──► rejected                          ├─► reports.outcomes
                                  /Report refused or image gone ──► failed (approve again) ─┘
                                  /Report unavailable ──► failed, retrying: held, tried again

With the review gate off, a verdict goes straight to "approved". A later verdict of the same
content (a rescan, a duplicate) finds the report and adds nothing. Each state is stored before
the event announcing it is written, and a handler that finds the state its own trigger left
behind (a crash between the two) writes that event again instead of acting twice.

"approved" is the filing intent, confirmed in the table's changelog before /Report is called. A
trigger handed over again (the agent was killed before its ack) that finds its own "approved"
cannot tell whether the call reached NCMEC, so it files nothing and records "maybe filed"
(reconciled on restart: a visible state for an operator, never a silent second report). Only
this process's own retries after a transient error (no call in flight) file again by themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import click

from streams.downstream.app import DownstreamApp
from streams.downstream.base import ItemRef, Sink, VerdictSink
from streams.downstream.filing import ReportFiler
from streams.downstream.report_state import OPEN_PHASES, ReportPhase, ReportState
from streams.downstream.reviewdesk.install import install_review_desk
from streams.downstream.store import ModelStore
from streams.errors import (
    BackpressureError,
    ConfigurationError,
    PermanentError,
    ReasonCode,
    TransientError,
)
from streams.events import (
    ReportOutcome,
    ReportStatus,
    ReviewChoice,
    ReviewDecision,
    ReviewRequest,
    Verdict,
    outcome_id_for,
    report_id_for,
)
from streams.events.topics import REPORTING
from streams.kafka.confirmed import ConfirmedWriter
from streams.kafka.record import SourceRecord
from streams.settings import Settings, TopicSettings, load_settings

log = logging.getLogger(__name__)

ROLE = "reporting"


def review_request(verdict: Verdict, *, is_test: bool, now: datetime) -> ReviewRequest:
    return ReviewRequest(
        report_id=report_id_for(verdict.tenant, verdict.content_id),
        verdict_id=verdict.verdict_id,
        event_id=verdict.event_id,
        tenant=verdict.tenant,
        content_id=verdict.content_id,
        tracking_id=verdict.tracking_id,
        matches=verdict.matches,
        media_url=verdict.media_url,
        uploaded_at=verdict.uploaded_at,
        uploader=verdict.uploader,
        is_test=is_test,
        requested_at=now,
    )


class ReportBook:
    """The state machine in the module docstring, over the agent's report table."""

    def __init__(
        self,
        store: ModelStore[ReportState],
        filer: ReportFiler,
        writer: ConfirmedWriter,
        topics: TopicSettings,
        *,
        review_gate: bool,
        retry_delay_s: float,
        durable: Callable[[], Awaitable[None]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``durable`` returns once every table write so far is confirmed in its changelog."""
        self._store = store
        self._durable = durable
        #: Reports whose filing this process tried and saw fail transiently: nothing in flight.
        self._retrying: set[str] = set()
        self._filer = filer
        self._writer = writer
        self._topics = topics
        self._gate = review_gate
        self._retry_delay_s = retry_delay_s
        self._now = clock

    def get(self, report_id: str) -> ReportState | None:
        return self._store.get(report_id)

    def pending(self) -> list[ReportState]:
        """Reports this instance holds that wait for a decision, oldest first."""
        waiting = [s for s in self._store.values() if s.phase is ReportPhase.PENDING]
        return sorted(waiting, key=lambda s: s.review.requested_at)

    # -- the two inputs -----------------------------------------------------------------------

    async def on_match(self, verdict: Verdict) -> None:
        report_id = report_id_for(verdict.tenant, verdict.content_id)
        if not verdict.reportable:  # only a bank set not to report matched (not a CSAM list)
            log.info(
                "match of a bank that does not report; no report", extra={"report_id": report_id}
            )
            return
        state = self._store.get(report_id)
        if state is not None and state.trigger_id != verdict.verdict_id:
            log.info(
                "content already has a report (%s); not reporting it again",
                state.phase.value,
                extra={"report_id": report_id, "tenant": verdict.tenant},
            )
            return
        if state is not None and state.phase is not ReportPhase.APPROVED:
            await self._announce(state)
            return
        if state is not None and self._interrupted(state):
            await self._maybe_filed(state, None)
            return
        review = (
            state.review
            if state
            else review_request(verdict, is_test=self._filer.is_test, now=self._now())
        )
        if self._gate:
            await self._announce(self._enter(review, ReportPhase.PENDING, verdict.verdict_id))
        else:
            await self._file(review, verdict.verdict_id, None)

    async def on_decision(self, decision: ReviewDecision) -> None:
        state = self._store.get(decision.report_id)
        if state is None or (state.review.tenant, state.review.content_id) != (
            decision.tenant,
            decision.content_id,
        ):
            raise PermanentError(
                f"decision {decision.decision_id}: no report {decision.report_id} for this "
                "tenant and content",
                reason=ReasonCode.INVALID_EVENT,
            )
        if state.trigger_id == decision.decision_id:
            if state.phase is not ReportPhase.APPROVED:
                await self._announce(state)
                return
            if self._interrupted(state):
                await self._maybe_filed(state, decision)
                return
        if state.phase not in OPEN_PHASES:
            log.info(
                "report already %s; decision %s changes nothing",
                state.phase.value,
                decision.decision_id,
                extra={"report_id": decision.report_id},
            )
            return
        if decision.decision is ReviewChoice.REJECT:
            outcome = self._outcome(
                state.review, ReportStatus.REJECTED, decision.decision_id, decision
            )
            await self._announce(
                self._enter(state.review, ReportPhase.REJECTED, decision.decision_id, outcome)
            )
        else:
            await self._file(state.review, decision.decision_id, decision)

    # -- filing -------------------------------------------------------------------------------

    def _interrupted(self, state: ReportState) -> bool:
        """Whether an "approved" state its own trigger finds is the intent of a filing that was
        cut off (a crash), rather than this process's retry after a transient error."""
        return state.phase is ReportPhase.APPROVED and state.review.report_id not in self._retrying

    async def _maybe_filed(self, state: ReportState, decision: ReviewDecision | None) -> None:
        review = state.review
        detail = "the agent stopped while filing; check with NCMEC, then approve again or reject"
        log.warning(
            "report may have been filed before the agent stopped; not filing it again",
            extra={"report_id": review.report_id, "tenant": review.tenant},
        )
        outcome = self._outcome(
            review, ReportStatus.MAYBE_FILED, state.trigger_id, decision, detail
        )
        await self._announce(
            self._enter(review, ReportPhase.MAYBE_FILED, state.trigger_id, outcome)
        )

    async def _file(
        self, review: ReviewRequest, trigger_id: str, decision: ReviewDecision | None
    ) -> None:
        self._retrying.discard(review.report_id)
        before = self._store.get(review.report_id)
        self._enter(review, ReportPhase.APPROVED, trigger_id)  # the intent, ...
        await self._durable()  # ... in Kafka before the call
        try:
            result = await self._filer.file(review)
        except ConfigurationError:
            # Refused before anything reached NCMEC (a refused key, a setting missing): nothing
            # was filed, so the intent is withdrawn and the agent restarted after the fix files
            # it, instead of flagging it "maybe filed".
            self._withdraw_intent(review.report_id, before)
            await self._durable()
            raise
        except PermanentError as exc:
            outcome = self._outcome(review, ReportStatus.FAILED, trigger_id, decision, str(exc))
            await self._announce(self._enter(review, ReportPhase.FAILED, trigger_id, outcome))
            return
        except TransientError as exc:
            retrying = self._outcome(
                review, ReportStatus.FAILED, trigger_id, decision, str(exc), retrying=True
            )
            await self._emit_outcome(retrying)
            self._retrying.add(review.report_id)
            raise BackpressureError(
                f"report {review.report_id} not filed yet: {exc}",
                retry_after=self._retry_delay_s,
            ) from exc
        outcome = self._outcome(review, ReportStatus.FILED, trigger_id, decision).model_copy(
            update={"ncmec_report_id": result.report_id, "tracking_id": result.tracking_id}
        )
        log.info(
            "report filed",
            extra={"report_id": review.report_id, "is_test": self._filer.is_test},
        )
        await self._announce(self._enter(review, ReportPhase.FILED, trigger_id, outcome))

    def _withdraw_intent(self, report_id: str, before: ReportState | None) -> None:
        if before is None:
            self._store.remove(report_id)
        else:
            self._store.put(report_id, before)

    # -- state and events ---------------------------------------------------------------------

    def _enter(
        self,
        review: ReviewRequest,
        phase: ReportPhase,
        trigger_id: str,
        outcome: ReportOutcome | None = None,
    ) -> ReportState:
        state = ReportState(
            phase=phase,
            review=review,
            trigger_id=trigger_id,
            outcome=outcome,
            updated_at=self._now(),
        )
        self._store.put(review.report_id, state)
        return state

    async def _announce(self, state: ReportState) -> None:
        """Write the event that ``state`` stands for (again, after a crash)."""
        if state.outcome is not None:
            await self._emit_outcome(state.outcome)
        elif state.phase is ReportPhase.PENDING:
            review = state.review
            key = review.content_id.encode()
            await self._writer.write(self._topics.reports_review, key, review.encode(), [])

    async def _emit_outcome(self, outcome: ReportOutcome) -> None:
        await self._writer.write(
            self._topics.reports_outcomes, outcome.content_id.encode(), outcome.encode(), []
        )

    def _outcome(
        self,
        review: ReviewRequest,
        status: ReportStatus,
        trigger_id: str,
        decision: ReviewDecision | None,
        detail: str | None = None,
        *,
        retrying: bool = False,
    ) -> ReportOutcome:
        if detail is None and decision is not None:
            detail = decision.reason
        return ReportOutcome(
            outcome_id=outcome_id_for(review.report_id, trigger_id, status, retrying=retrying),
            report_id=review.report_id,
            verdict_id=review.verdict_id,
            tenant=review.tenant,
            content_id=review.content_id,
            status=status,
            retrying=retrying,
            detail=detail,
            decision_id=decision.decision_id if decision else None,
            decided_by=decision.decided_by if decision else None,
            is_test=self._filer.is_test,
            at=self._now(),
        )


class MatchesToReports(VerdictSink):
    def __init__(self, book: ReportBook) -> None:
        self._book = book

    async def handle_match(self, verdict: Verdict, source: SourceRecord) -> None:
        await self._book.on_match(verdict)


class DecisionsToReports(Sink[ReviewDecision]):
    model = ReviewDecision

    def __init__(self, book: ReportBook) -> None:
        self._book = book

    def ref(self, item: ReviewDecision) -> ItemRef:
        return ItemRef(item.decision_id, item.content_id, item.tenant)

    async def handle(self, item: ReviewDecision, source: SourceRecord) -> None:
        await self._book.on_decision(item)


def build_reporting(settings: Settings, **faust_overrides: Any) -> DownstreamApp:
    filer = ReportFiler.from_settings(settings)
    downstream = DownstreamApp(settings, ROLE, REPORTING, **faust_overrides)
    downstream.on_close(filer.aclose)
    topics = downstream.settings.topics
    book = ReportBook(
        ModelStore(downstream.table("reports"), ReportState),
        filer,
        downstream.writer_for(ROLE),
        topics,
        review_gate=settings.reporting.review_gate,
        retry_delay_s=settings.reporting.retry_delay_s,
        durable=downstream.flush_table_writes,
    )
    downstream.add_loop(f"{ROLE}.matches", topics.verdicts_match, MatchesToReports(book))
    downstream.add_loop(f"{ROLE}.decisions", topics.reports_decisions, DecisionsToReports(book))
    install_review_desk(downstream, book, role=ROLE)
    return downstream


@click.command(ROLE)
def reporting_command() -> None:
    """Run the reporting agent (match verdicts -> reviewed NCMEC reports via PhotoDNA)."""
    build_reporting(load_settings()).run()
