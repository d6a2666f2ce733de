"""The scanner's decisions: fail-closed verdicts, DLQ reasons, retries, outage waits."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from streams.errors import (
    AuthenticationError,
    ReasonCode,
    RejectedByPhotoDNA,
    TransientError,
    UnknownStatusError,
)
from streams.events import BankMatch, ReusedAnswer, ScanKind, VerdictKind
from streams.kafka.record import ATTEMPTS_HEADER, FIRST_SEEN_HEADER, REPLAYS_HEADER, SourceRecord
from streams.photodna import CircuitBreaker, Lane, MatchFlag, MatchResult, MediaRef
from streams.scan.pipeline import FatalScanError
from streams.scan.scanner import (
    DeadLetterOutcome,
    RetryOutcome,
    Scanner,
    VerdictOutcome,
    decode_rescan,
    decode_upload,
)
from tests.support import clear_result

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
UPLOAD = {
    "schema_version": 1,
    "event_id": "evt-1",
    "tenant": "acme",
    "content_id": "img-1",
    "media_url": "https://cdn.example.com/a.jpg?sig=secret",
    "uploaded_at": "2026-11-01T12:00:00Z",
}


def result(
    *, is_match: bool, flags: list[MatchFlag] | None = None, status: int = 3000
) -> MatchResult:
    return MatchResult(
        is_match=is_match,
        flags=flags or [],
        tracking_id="WUS_t",
        status_code=status,
        status_description="OK",
        attempts=2,
        api_seconds=0.05,
    )


class ScriptedMatcher:
    """Answers (or raises) from a script, one entry per call."""

    def __init__(self, *script: MatchResult | Exception) -> None:
        self.script = list(script)
        self.calls: list[MediaRef] = []

    async def match(self, media: MediaRef, *, lane: Lane) -> MatchResult:
        self.calls.append(media)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def record(value: bytes | None = None, headers: tuple[tuple[str, bytes], ...] = ()) -> SourceRecord:
    return SourceRecord(
        topic="content.uploads",
        partition=2,
        offset=77,
        key=b"img-1",
        value=json.dumps(UPLOAD).encode() if value is None else value,
        headers=headers,
        received_at=NOW,
    )


async def canary_answers() -> bool:
    return True


def scanner(
    matcher: ScriptedMatcher, breaker: CircuitBreaker | None = None, lane: Lane = Lane.LIVE
) -> Scanner:
    return Scanner(
        matcher,
        breaker or CircuitBreaker(failure_threshold=3, reset_s=0.05, probe=canary_answers),
        lane=lane,
        enhanced=False,
        retry_limit=2,
        retry_delay_s=30,
        replay_limit=3,
        clock=lambda: NOW,
    )


async def test_clear_only_for_status_3000_without_match() -> None:
    outcome = await scanner(ScriptedMatcher(result(is_match=False))).scan(record())
    assert isinstance(outcome, VerdictOutcome)
    assert outcome.verdict.verdict is VerdictKind.CLEAR
    assert outcome.verdict.tracking_id == "WUS_t" and outcome.verdict.attempts == 2


async def test_match_flags_make_a_match_even_if_is_match_is_false() -> None:
    flag = MatchFlag(source="Test", violations=["A1"], match_id="104149", distance=12)
    outcome = await scanner(ScriptedMatcher(result(is_match=False, flags=[flag]))).scan(record())
    assert isinstance(outcome, VerdictOutcome)
    assert outcome.verdict.verdict is VerdictKind.MATCH
    assert (outcome.verdict.matches[0].match_id, outcome.verdict.matches[0].distance) == (
        "104149",
        12,
    )


@pytest.mark.parametrize("status", [3004, 2999, 0])
async def test_a_non_ok_result_never_becomes_clear(status: int) -> None:
    outcome = await scanner(ScriptedMatcher(result(is_match=False, status=status))).scan(record())
    assert isinstance(outcome, RetryOutcome)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            RejectedByPhotoDNA("3206", reason=ReasonCode.NOT_AN_IMAGE, status_code=3206),
            ReasonCode.NOT_AN_IMAGE,
        ),
        (
            RejectedByPhotoDNA("3208", reason=ReasonCode.IMAGE_SIZE_OUT_OF_RANGE, status_code=3208),
            ReasonCode.IMAGE_SIZE_OUT_OF_RANGE,
        ),
    ],
)
async def test_permanent_errors_go_to_the_dlq_with_their_reason(
    error: Exception, reason: ReasonCode
) -> None:
    outcome = await scanner(ScriptedMatcher(error)).scan(record())
    assert isinstance(outcome, DeadLetterOutcome)
    assert outcome.error.reason is reason
    assert outcome.error.value == record().value and outcome.error.key == b"img-1"
    assert (outcome.error.source_partition, outcome.error.source_offset) == (2, 77)
    assert outcome.error.content_id == "img-1" and not outcome.error.retryable


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x00\x01garbage", ReasonCode.UNDECODABLE),
        (
            json.dumps({**UPLOAD, "schema_version": 7}).encode(),
            ReasonCode.UNSUPPORTED_SCHEMA_VERSION,
        ),
        (
            json.dumps({k: v for k, v in UPLOAD.items() if k != "tenant"}).encode(),
            ReasonCode.INVALID_EVENT,
        ),
    ],
)
async def test_undecodable_records_go_to_the_dlq_with_their_bytes(
    raw: bytes, reason: ReasonCode
) -> None:
    matcher = ScriptedMatcher()
    outcome = await scanner(matcher).scan(record(raw))
    assert isinstance(outcome, DeadLetterOutcome)
    assert outcome.error.reason is reason and outcome.error.value == raw
    assert matcher.calls == []


async def test_a_rejected_key_stops_the_worker_naming_the_record() -> None:
    met = record()
    with pytest.raises(FatalScanError) as raised:
        await scanner(ScriptedMatcher(AuthenticationError("401", status_code=401))).scan(met)
    assert raised.value.record is met


async def test_one_failing_event_is_retried_later_then_dead_lettered_as_replayable() -> None:
    first = await scanner(ScriptedMatcher(TransientError("503"))).scan(record())
    assert isinstance(first, RetryOutcome) and first.attempts == 1
    last = await scanner(ScriptedMatcher(TransientError("503"))).scan(
        record(headers=((ATTEMPTS_HEADER, b"2"),))
    )
    assert isinstance(last, DeadLetterOutcome)
    assert last.error.reason is ReasonCode.RETRIES_EXHAUSTED
    assert last.error.retryable and last.error.attempts == 3


async def test_an_undocumented_status_ends_in_the_dlq_with_its_own_reason_and_code() -> None:
    failure = UnknownStatusError("PhotoDNA Match: Status 3999", status_code=3999)
    first = await scanner(ScriptedMatcher(failure)).scan(record())
    assert isinstance(first, RetryOutcome)
    last = await scanner(ScriptedMatcher(failure)).scan(record(headers=((ATTEMPTS_HEADER, b"2"),)))
    assert isinstance(last, DeadLetterOutcome)
    assert last.error.reason is ReasonCode.UNKNOWN_STATUS and last.error.retryable
    assert "Status 3999" in last.error.detail


async def test_during_an_outage_the_scanner_waits_instead_of_dead_lettering() -> None:
    health = iter([False, True])  # the canary fails once (an outage), then answers

    async def canary() -> bool:
        return next(health)

    breaker = CircuitBreaker(failure_threshold=1, reset_s=0.05, probe=canary)
    matcher = ScriptedMatcher(TransientError("503"), result(is_match=False))

    outcome = await asyncio.wait_for(
        scanner(matcher, breaker).scan(record(headers=((ATTEMPTS_HEADER, b"2"),))), timeout=5
    )
    assert isinstance(outcome, VerdictOutcome)
    assert len(matcher.calls) == 2
    breaker.close()


async def test_replayed_too_often_stays_in_the_dlq() -> None:
    outcome = await scanner(ScriptedMatcher()).scan(record(headers=((REPLAYS_HEADER, b"4"),)))
    assert isinstance(outcome, DeadLetterOutcome)
    assert outcome.error.reason is ReasonCode.REPLAY_LIMIT_REACHED


async def test_rescan_lane_decodes_rescan_requests() -> None:
    request = {
        "schema_version": 1,
        "rescan_id": "r-9",
        "requested_at": "2026-11-21T00:00:00Z",
        "upload": UPLOAD,
    }
    outcome = await scanner(ScriptedMatcher(result(is_match=False)), lane=Lane.RESCAN).scan(
        record(json.dumps(request).encode())
    )
    assert isinstance(outcome, VerdictOutcome)
    assert outcome.verdict.scan.kind is ScanKind.RESCAN
    assert outcome.verdict.scan.rescan_id == "r-9"


@pytest.mark.parametrize(("replays", "scanned"), [(b"0", True), (b"3", True), (b"4", False)])
async def test_the_replay_limit_admits_exactly_its_number_of_replays(
    replays: bytes, scanned: bool
) -> None:
    matcher = ScriptedMatcher(result(is_match=False))
    outcome = await scanner(matcher).scan(record(headers=((REPLAYS_HEADER, replays),)))

    assert isinstance(outcome, VerdictOutcome) is scanned
    assert len(matcher.calls) == int(scanned)
    if not scanned:
        assert isinstance(outcome, DeadLetterOutcome)
        assert outcome.error.reason is ReasonCode.REPLAY_LIMIT_REACHED
        assert outcome.replays == 4 and "more than 3 times" in outcome.error.detail


@pytest.mark.parametrize(("previous", "retried"), [(b"0", True), (b"1", True), (b"2", False)])
async def test_the_retry_limit_allows_exactly_its_number_of_delayed_retries(
    previous: bytes, retried: bool
) -> None:
    outcome = await scanner(ScriptedMatcher(TransientError("503"))).scan(
        record(headers=((ATTEMPTS_HEADER, previous),))
    )

    attempts = int(previous) + 1
    if retried:
        assert isinstance(outcome, RetryOutcome)
        assert outcome.attempts == attempts and outcome.error == "503"
        assert outcome.not_before == NOW + timedelta(seconds=30)
    else:
        assert isinstance(outcome, DeadLetterOutcome)
        assert outcome.error.attempts == attempts
        assert "outlived 2 delayed retries" in outcome.error.detail


async def test_a_verdict_carries_the_calls_timings_and_at_least_one_attempt() -> None:
    answered = clear_result(attempts=0, api_seconds=0.25, quota_seconds=1.5)
    taken = dataclasses.replace(record(), received_at=NOW - timedelta(seconds=2))

    outcome = await scanner(ScriptedMatcher(answered)).scan(taken)

    assert isinstance(outcome, VerdictOutcome)
    timings = outcome.verdict.timings
    assert (timings.api_ms, timings.quota_ms, timings.total_ms) == (250, 1500, 2000)
    assert (timings.received_at, timings.scanned_at) == (NOW - timedelta(seconds=2), NOW)
    assert outcome.verdict.attempts == 1


async def test_a_record_received_after_the_clocks_now_has_no_negative_total() -> None:
    late = dataclasses.replace(record(), received_at=NOW + timedelta(seconds=1))

    outcome = await scanner(ScriptedMatcher(result(is_match=False))).scan(late)

    assert isinstance(outcome, VerdictOutcome) and outcome.verdict.timings.total_ms == 0


async def test_a_dead_letter_counts_every_scan_and_keeps_when_the_record_was_first_seen() -> None:
    first_seen = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    retried = record(
        headers=((ATTEMPTS_HEADER, b"1"), (FIRST_SEEN_HEADER, first_seen.isoformat().encode()))
    )
    rejected = RejectedByPhotoDNA("3206", reason=ReasonCode.NOT_AN_IMAGE, status_code=3206)

    outcome = await scanner(ScriptedMatcher(rejected)).scan(retried)

    assert isinstance(outcome, DeadLetterOutcome)
    assert (outcome.error.attempts, outcome.error.first_seen) == (2, first_seen)
    assert (outcome.error.last_seen, outcome.replays) == (NOW, 0)
    assert (outcome.error.event_id, outcome.error.tenant) == ("evt-1", "acme")


def test_only_a_rescan_that_asks_for_it_is_only_changed() -> None:
    upload = json.dumps(UPLOAD).encode()
    assert decode_upload(upload).only_changed is False
    request = {"schema_version": 1, "rescan_id": "rs-1", "requested_at": UPLOAD["uploaded_at"]}
    plain = json.dumps({**request, "upload": UPLOAD}).encode()
    asked = json.dumps({**request, "upload": UPLOAD, "only_changed": True}).encode()
    assert decode_rescan(plain).only_changed is False
    assert decode_rescan(asked).only_changed is True


async def test_each_verdict_is_logged_at_debug_with_its_url_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="streams.scan.scanner"):
        await scanner(ScriptedMatcher(result(is_match=False))).scan(record())

    [entry] = [r for r in caplog.records if r.getMessage() == "verdict"]
    assert (entry.verdict, entry.content_id, entry.tenant) == ("clear", "img-1", "acme")  # type: ignore[attr-defined]
    assert entry.media.startswith("https://cdn.example.com/… #")  # type: ignore[attr-defined]
    assert "secret" not in entry.media  # type: ignore[attr-defined]


async def test_a_cache_hit_becomes_a_verdict_traceable_to_the_call_it_reuses() -> None:
    reused = ReusedAnswer(tracking_id="WUS_first", answered_at=NOW - timedelta(hours=1))
    hit = clear_result(
        tracking_id="WUS_first", attempts=0, answered_by="cache", reused_answer=reused
    )
    outcome = await scanner(ScriptedMatcher(hit)).scan(record())
    assert isinstance(outcome, VerdictOutcome)
    verdict = outcome.verdict
    assert (verdict.verdict, verdict.answered_by, verdict.attempts) == (
        VerdictKind.CLEAR,
        "cache",
        0,
    )
    assert (verdict.tracking_id, verdict.reused_answer) == ("WUS_first", reused)


async def test_a_bank_match_is_a_match_without_a_photodna_status() -> None:
    bank = BankMatch(bank="own", entry_id="e1", signal="pdq", distance=4, report_to_ncmec=False)
    answer = clear_result(
        status_code=0, tracking_id="", attempts=0, answered_by="bank:own", bank_matches=(bank,)
    )
    outcome = await scanner(ScriptedMatcher(answer)).scan(record())
    assert isinstance(outcome, VerdictOutcome)
    verdict = outcome.verdict
    assert (verdict.verdict, verdict.answered_by, verdict.attempts) == (
        VerdictKind.MATCH,
        "bank:own",
        0,
    )
    assert verdict.bank_matches == [bank] and verdict.matches == []


async def test_a_first_hand_answer_counts_at_least_one_call() -> None:
    outcome = await scanner(ScriptedMatcher(clear_result(attempts=0))).scan(record())
    assert isinstance(outcome, VerdictOutcome) and outcome.verdict.attempts == 1
    assert outcome.verdict.answered_by == "photodna" and outcome.verdict.reused_answer is None
