"""The report flow: one report per content, a human gate, every outcome kept, nothing dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from pydantic import SecretStr

from streams.downstream.decisions import make_decision
from streams.downstream.filing import TEST_CREDENTIALS, Reporter, report_request
from streams.downstream.report_log import build_views
from streams.downstream.report_state import ReportPhase, ReportState
from streams.downstream.reporting import ReportBook, review_request
from streams.downstream.store import ModelStore
from streams.errors import (
    AuthenticationError,
    BackpressureError,
    ConfigurationError,
    MediaError,
    PermanentError,
    ReasonCode,
    TransientError,
)
from streams.events import (
    BankMatch,
    ReportOutcome,
    ReportStatus,
    ReviewChoice,
    ReviewDecision,
    ReviewRequest,
    report_id_for,
)
from streams.media.fetcher import FetchedImage
from streams.photodna import ReportResult
from streams.settings import Settings, TopicSettings
from tests.support import NOW, RecordingWriter, agent_writer_of, make_verdict

pytestmark = pytest.mark.unit

TOPICS = TopicSettings()
PASSWORD = SecretStr("ncmec-pass-9f8e7d")


@dataclass
class FakeFiler:
    """Files into a list; raises the scripted errors first."""

    errors: list[BaseException] = field(default_factory=list)
    filed: list[str] = field(default_factory=list)
    is_test: bool = True
    #: What happened, in order: "durable" (table writes confirmed) and "call" (a /Report).
    steps: list[str] = field(default_factory=list)

    async def file(self, review: ReviewRequest) -> ReportResult:
        self.steps.append("call")
        if self.errors:
            raise self.errors.pop(0)
        self.filed.append(review.report_id)
        return ReportResult(3000, "OK", f"TRK-{len(self.filed)}", f"R-{len(self.filed)}", 1, 0.1)


class Killed(BaseException):
    """Stands for a kill -9 in the middle of the /Report call."""


class Desk:
    def __init__(self, *errors: BaseException, gate: bool = True) -> None:
        self.publisher = RecordingWriter()
        self.filer = FakeFiler(list(errors))
        self.table: dict[str, str] = {}
        self.gate = gate
        self.now = NOW
        self.book = self.restart()

    def restart(self) -> ReportBook:
        """A new agent process over the same table (its changelog) and topics."""

        async def durable() -> None:
            self.filer.steps.append("durable")

        self.book = ReportBook(
            ModelStore(self.table, ReportState),
            self.filer,  # type: ignore[arg-type]
            agent_writer_of(self.publisher),
            TOPICS,
            review_gate=self.gate,
            retry_delay_s=30.0,
            durable=durable,
            clock=lambda: self.now,
        )
        return self.book

    def reviews(self) -> list[ReviewRequest]:
        return [ReviewRequest.decode(v) for v in self.publisher.on(TOPICS.reports_review)]

    def outcomes(self) -> list[ReportOutcome]:
        return [ReportOutcome.decode(v) for v in self.publisher.on(TOPICS.reports_outcomes)]

    def decide(self, choice: ReviewChoice, reason: str | None = None) -> ReviewDecision:
        (review,) = self.reviews()[:1]
        return make_decision(review, choice, by="alice", reason=reason, now=NOW)


async def test_a_match_waits_for_review_and_the_same_content_is_reported_once() -> None:
    desk = Desk()
    await desk.book.on_match(make_verdict(1))
    await desk.book.on_match(make_verdict(2, content_id="content-1"))  # another upload of it

    (review,) = desk.reviews()
    assert review.report_id == report_id_for("acme", "content-1")
    assert (review.verdict_id, review.is_test) == (make_verdict(1).verdict_id, True)
    assert desk.filer.filed == [] and desk.outcomes() == []
    assert [s.review.report_id for s in desk.book.pending()] == [review.report_id]


async def test_the_queue_is_oldest_first_whatever_order_the_table_holds() -> None:
    """RocksDB keeps the table in key order, which has nothing to do with time."""
    desk = Desk()
    await desk.book.on_match(make_verdict(1, content_id="newer"))
    desk.now = NOW - timedelta(hours=1)
    await desk.book.on_match(make_verdict(2, content_id="older"))
    desk.now = NOW + timedelta(minutes=5)
    await desk.book.on_match(make_verdict(3, content_id="newest"))

    assert list(desk.table) == [report_id_for("acme", c) for c in ("newer", "older", "newest")]
    pending = [s.review.content_id for s in desk.book.pending()]
    assert pending == ["older", "newer", "newest"]


async def test_approval_files_the_report_and_records_the_outcome() -> None:
    desk = Desk()
    await desk.book.on_match(make_verdict(1))
    decision = desk.decide(ReviewChoice.APPROVE)

    await desk.book.on_decision(decision)
    await desk.book.on_decision(desk.decide(ReviewChoice.APPROVE))  # a second approval

    (outcome,) = desk.outcomes()
    assert outcome.status is ReportStatus.FILED
    assert (outcome.ncmec_report_id, outcome.tracking_id) == ("R-1", "TRK-1")
    assert (outcome.decision_id, outcome.decided_by, outcome.is_test) == (
        decision.decision_id,
        "alice",
        True,
    )
    assert len(desk.filer.filed) == 1 and desk.book.pending() == []


async def test_rejection_closes_the_report_unfiled_with_the_reason() -> None:
    desk = Desk()
    await desk.book.on_match(make_verdict(1))
    await desk.book.on_decision(desk.decide(ReviewChoice.REJECT, "benign test image"))
    await desk.book.on_decision(desk.decide(ReviewChoice.APPROVE))  # too late

    (outcome,) = desk.outcomes()
    assert (outcome.status, outcome.detail) == (ReportStatus.REJECTED, "benign test image")
    assert desk.filer.filed == []


async def test_an_unavailable_service_holds_the_decision_and_says_so() -> None:
    desk = Desk(TransientError("PhotoDNA Report: HTTP 503 (gave up after 6 attempts)"))
    await desk.book.on_match(make_verdict(1))
    decision = desk.decide(ReviewChoice.APPROVE)

    with pytest.raises(BackpressureError) as held:
        await desk.book.on_decision(decision)
    assert held.value.retry_after == 30.0
    await desk.book.on_decision(decision)  # the loop hands it over again

    failed, filed = desk.outcomes()
    assert (failed.status, failed.retrying) == (ReportStatus.FAILED, True)
    assert filed.status is ReportStatus.FILED and failed.outcome_id != filed.outcome_id
    assert len(desk.filer.filed) == 1


async def test_a_refused_report_fails_for_good_until_approved_again() -> None:
    desk = Desk(
        MediaError("https://cdn.example.com/… #abc: HTTP 404", reason=ReasonCode.MEDIA_UNREACHABLE)
    )
    await desk.book.on_match(make_verdict(1))

    await desk.book.on_decision(desk.decide(ReviewChoice.APPROVE))
    await desk.book.on_decision(desk.decide(ReviewChoice.APPROVE))

    failed, filed = desk.outcomes()
    assert (failed.status, failed.retrying) == (ReportStatus.FAILED, False)
    assert "HTTP 404" in (failed.detail or "") and "private" not in (failed.detail or "")
    assert filed.status is ReportStatus.FILED


async def test_without_the_gate_a_match_is_filed_at_once() -> None:
    desk = Desk(gate=False)
    await desk.book.on_match(make_verdict(1))
    await desk.book.on_match(make_verdict(2, content_id="content-1"))

    assert desk.reviews() == []
    (outcome,) = desk.outcomes()
    assert (outcome.status, outcome.decision_id) == (ReportStatus.FILED, None)


async def test_a_replay_after_a_crash_announces_again_instead_of_acting_twice() -> None:
    desk = Desk()
    verdict = make_verdict(1)
    await desk.book.on_match(verdict)
    await desk.book.on_match(verdict)  # crash before its ack: the review is written again
    decision = desk.decide(ReviewChoice.APPROVE)
    await desk.book.on_decision(decision)
    await desk.book.on_decision(decision)

    first, again = desk.reviews()
    assert first == again
    filed, refiled = desk.outcomes()
    assert filed.outcome_id == refiled.outcome_id
    assert len(desk.filer.filed) == 1


async def test_a_crash_during_the_call_leaves_maybe_filed_never_a_second_report() -> None:
    desk = Desk(Killed())
    await desk.book.on_match(make_verdict(1))
    decision = desk.decide(ReviewChoice.APPROVE)
    with pytest.raises(Killed):
        await desk.book.on_decision(decision)
    assert desk.filer.steps == ["durable", "call"]  # the intent was in Kafka before the call

    await desk.restart().on_decision(decision)  # its record was never acked: handed over again
    await desk.book.on_decision(decision)  # and once more (a crash before this ack)

    assert desk.filer.steps == ["durable", "call"] and desk.filer.filed == []
    maybe, again = desk.outcomes()
    assert maybe == again and maybe.status is ReportStatus.MAYBE_FILED
    assert maybe.decision_id == decision.decision_id
    report_id = maybe.report_id
    assert (state := desk.book.get(report_id)) and state.phase is ReportPhase.MAYBE_FILED

    await desk.book.on_decision(desk.decide(ReviewChoice.APPROVE))  # the operator checked
    assert desk.outcomes()[-1].status is ReportStatus.FILED and desk.filer.filed == [report_id]


async def test_without_the_gate_a_crash_during_the_call_leaves_maybe_filed() -> None:
    desk = Desk(Killed(), gate=False)
    verdict = make_verdict(1)
    with pytest.raises(Killed):
        await desk.book.on_match(verdict)

    await desk.restart().on_match(verdict)

    (maybe,) = desk.outcomes()
    assert (maybe.status, maybe.decision_id) == (ReportStatus.MAYBE_FILED, None)
    assert desk.filer.filed == []


@pytest.mark.parametrize("gate", [True, False])
async def test_a_refused_key_withdraws_the_intent_and_the_restarted_agent_files_once(
    gate: bool,
) -> None:
    desk = Desk(AuthenticationError("the key was refused", status_code=401), gate=gate)
    verdict = make_verdict(1)
    decision = None
    if gate:
        await desk.book.on_match(verdict)
        decision = desk.decide(ReviewChoice.APPROVE)
    with pytest.raises(ConfigurationError):  # the agent stops (exit 78) and acks nothing
        await (desk.book.on_decision(decision) if decision else desk.book.on_match(verdict))
    report_id = report_id_for("acme", "content-1")
    state = desk.book.get(report_id)
    assert (state.phase if state else None) is (ReportPhase.PENDING if gate else None)

    book = desk.restart()  # the key rotated; the same record is handed over again
    await (book.on_decision(decision) if decision else book.on_match(verdict))

    assert [o.status for o in desk.outcomes()] == [ReportStatus.FILED]
    assert desk.filer.filed == [report_id]


async def test_a_decision_for_an_unknown_report_is_refused() -> None:
    desk = Desk()
    await desk.book.on_match(make_verdict(1))
    stray = desk.decide(ReviewChoice.APPROVE).model_copy(update={"report_id": "nope"})

    with pytest.raises(PermanentError) as refused:
        await desk.book.on_decision(stray)
    assert refused.value.reason is ReasonCode.INVALID_EVENT


def test_a_rejection_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        make_decision(_review(), ReviewChoice.REJECT, by="alice", reason=" ")


def _review() -> ReviewRequest:
    return review_request(make_verdict(1), is_test=True, now=NOW)


def test_the_report_body_carries_the_image_and_what_ncmec_needs() -> None:
    reporter = Reporter("Example", "T&S", "tns@example.com", "ncmec-user", PASSWORD)
    image = FetchedImage(
        data=b"\x89PNG image bytes", content_type="image/png", width=200, height=200
    )

    body = report_request(_review(), image, reporter).to_body(is_test=True)

    assert (body["OrgName"], body["ReporteeName"], body["ReporteeIPAddress"]) == (
        "Example",
        "acct-1",
        "203.0.113.7",
    )
    (item,) = body["ViolationContentCollection"]
    assert item["Name"] == "content-1" and item["Value"] == "iVBORyBpbWFnZSBieXRlcw=="
    metadata = {m["Key"]: m["Value"] for m in item["AdditionalMetadata"]}
    assert metadata["Tenant"] == "acme" and metadata["PhotoDNATrackingId"] == "WUS_1"
    assert {"Key": "IsTest", "Value": "true"} in body["AdditionalMetadata"]
    assert "ncmec-pass" not in repr(reporter) and "ncmec-pass" not in str(body)


REPORTER = {"org_name": "Org", "reporter_name": "T&S", "reporter_email": "tns@example.com"}


def test_production_refuses_to_start_without_reporter_and_credentials() -> None:
    with pytest.raises(ConfigurationError) as missing:
        Reporter.from_settings(
            Settings(photodna={"ncmec_username": "u"}, reporting={"production": True})
        )
    assert "HASHGATE_REPORTING__ORG_NAME" in str(missing.value)
    assert "HASHGATE_PHOTODNA__NCMEC_PASSWORD" in str(missing.value)
    assert "HASHGATE_PHOTODNA__NCMEC_USERNAME" not in str(missing.value)


def test_test_reports_need_no_ncmec_credentials() -> None:
    with pytest.raises(ConfigurationError) as missing:
        Reporter.from_settings(Settings())
    assert "HASHGATE_REPORTING__ORG_NAME" in str(missing.value)
    assert "NCMEC" not in str(missing.value)
    reporter = Reporter.from_settings(
        Settings(photodna={"subscription_key": "k" * 8}, reporting=REPORTER)
    )
    assert (reporter.ncmec_username, reporter.ncmec_password.get_secret_value()) == (
        TEST_CREDENTIALS
    )


def test_the_operator_view_follows_the_newest_decision() -> None:
    review = _review()
    first = make_decision(review, ReviewChoice.APPROVE, by="alice", now=NOW)
    failed = ReportOutcome(
        outcome_id="o-1",
        report_id=review.report_id,
        verdict_id=review.verdict_id,
        tenant="acme",
        content_id="content-1",
        status=ReportStatus.FAILED,
        detail="image gone",
        decision_id=first.decision_id,
        is_test=True,
        at=NOW,
    )
    view = build_views([review], [first], [failed])[review.report_id]
    assert view.status == "failed, approve again to retry: image gone" and not view.closed

    second = make_decision(review, ReviewChoice.APPROVE, by="bob", now=NOW + timedelta(1))
    view = build_views([review], [first, second], [failed])[review.report_id]
    assert view.status == "approved by bob, waiting for the agent"

    filed = failed.model_copy(
        update={"status": ReportStatus.FILED, "decision_id": second.decision_id}
    )
    view = build_views([review], [first, second], [failed, filed])[review.report_id]
    assert view.status == "filed" and view.closed


def test_report_state_keeps_no_image_bytes() -> None:
    state = ReportState(phase=ReportPhase.PENDING, review=_review(), trigger_id="v", updated_at=NOW)
    assert "Value" not in state.model_dump_json()


async def test_a_match_of_a_bank_that_does_not_report_files_nothing() -> None:
    desk = Desk(gate=False)
    own = BankMatch(bank="own", entry_id="e1", signal="pdq", distance=2, report_to_ncmec=False)
    await desk.book.on_match(
        make_verdict(1, matches=[], answered_by="bank:own", bank_matches=[own])
    )
    assert desk.reviews() == [] and desk.filer.filed == [] and desk.outcomes() == []
    reported = own.model_copy(update={"report_to_ncmec": True})
    await desk.book.on_match(
        make_verdict(2, matches=[], answered_by="bank:csam", bank_matches=[reported])
    )
    assert len(desk.filer.filed) == 1
