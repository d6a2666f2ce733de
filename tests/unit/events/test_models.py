"""Event contracts: what platforms and downstream teams integrate against."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from streams.errors import EventDecodeError, ReasonCode
from streams.events import (
    BankMatch,
    MatchDetail,
    ScanError,
    ScanInfo,
    ScanKind,
    Timings,
    UploadEvent,
    Verdict,
    VerdictKind,
    verdict_id_for,
)
from tests.support import make_verdict

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
GOOD = {
    "schema_version": 1,
    "event_id": "evt-1",
    "tenant": "acme",
    "content_id": "img-1",
    "media_url": "https://cdn.example.com/a.jpg",
    "uploaded_at": "2026-11-01T12:00:00Z",
}


def _raw(**changes: object) -> bytes:
    data = {**GOOD, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


def test_upload_event_decodes_and_keys_on_content_id() -> None:
    event = UploadEvent.decode(_raw(uploader={"account_id": "u1", "ip": "2001:db8::1"}))
    assert event.key == b"img-1"
    assert event.uploader is not None and str(event.uploader.ip) == "2001:db8::1"
    assert UploadEvent.decode(event.encode()) == event


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", ReasonCode.UNDECODABLE, None),
        (b'{"schema_version": 1, "event_id": ', ReasonCode.UNDECODABLE, None),
        (b"[1, 2]", ReasonCode.INVALID_EVENT, None),
        (_raw(schema_version=2), ReasonCode.UNSUPPORTED_SCHEMA_VERSION, "schema_version"),
        (_raw(schema_version=...), ReasonCode.INVALID_EVENT, "schema_version"),
        (_raw(tenant=...), ReasonCode.INVALID_EVENT, "tenant"),
        (_raw(media_url="ftp://x.example/a.jpg"), ReasonCode.INVALID_EVENT, "media_url"),
        (_raw(uploaded_at="2026-11-01T12:00:00"), ReasonCode.INVALID_EVENT, "uploaded_at"),
        (_raw(content_id=""), ReasonCode.INVALID_EVENT, "content_id"),
        (_raw(surprise=True), ReasonCode.INVALID_EVENT, "surprise"),
        (_raw(uploader={"ip": "not-an-ip"}), ReasonCode.INVALID_EVENT, "uploader.ip"),
    ],
)
def test_bad_records_are_refused_naming_the_field(
    raw: bytes, reason: ReasonCode, field: str | None
) -> None:
    with pytest.raises(EventDecodeError) as caught:
        UploadEvent.decode(raw)
    assert caught.value.reason is reason
    assert caught.value.field == field
    if field:
        assert repr(field) in str(caught.value)


def _verdict(scan: ScanInfo, *, is_match: bool) -> Verdict:
    return make_verdict(upload=UploadEvent.decode(_raw()), scan=scan, is_match=is_match)


def test_verdict_id_is_deterministic_per_event_and_scan() -> None:
    live = _verdict(ScanInfo(), is_match=True)
    again = _verdict(ScanInfo(), is_match=True)
    rescan = _verdict(ScanInfo(kind=ScanKind.RESCAN, rescan_id="r-1"), is_match=True)
    assert live.verdict_id == again.verdict_id == verdict_id_for("evt-1", ScanInfo())
    assert rescan.verdict_id != live.verdict_id
    assert rescan.verdict_id == verdict_id_for("evt-1", ScanInfo(kind="rescan", rescan_id="r-1"))


@pytest.mark.parametrize(
    ("scan", "pinned"),
    [
        (ScanInfo(), "97fda9f1-0426-554c-a29a-dd3251892f6c"),
        (ScanInfo(kind=ScanKind.RESCAN, rescan_id="rs-1"), "d8cff8f4-e31c-53a1-ba79-f81a1d2a8d0b"),
    ],
)
def test_verdict_ids_are_the_same_in_every_process_and_release(scan: ScanInfo, pinned: str) -> None:
    # Consumers de-duplicate on verdict_id across restarts and worker versions: a namespace
    # drawn per process would keep ids stable inside one test run and still break that.
    assert verdict_id_for("evt-1", scan) == pinned


def test_verdict_carries_upload_fields_and_round_trips() -> None:
    verdict = _verdict(ScanInfo(), is_match=True)
    assert verdict.verdict is VerdictKind.MATCH
    assert (verdict.tenant, verdict.content_id, verdict.event_id) == ("acme", "img-1", "evt-1")
    assert Verdict.decode(verdict.encode()) == verdict


def test_clear_verdict_cannot_carry_matches_and_ids_cannot_be_forged() -> None:
    clear = _verdict(ScanInfo(), is_match=False)
    data = json.loads(clear.encode())
    data["matches"] = [{"source": "Test", "violations": [], "match_id": None}]
    with pytest.raises(EventDecodeError, match="clear verdict"):
        Verdict.decode(json.dumps(data))
    data = json.loads(clear.encode())
    for forged in ("00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"):
        data["verdict_id"] = forged
        with pytest.raises(EventDecodeError, match="verdict_id"):
            Verdict.decode(json.dumps(data))


def test_rescan_scan_info_needs_an_id() -> None:
    with pytest.raises(ValueError, match="rescan_id"):
        ScanInfo(kind=ScanKind.RESCAN)
    with pytest.raises(ValueError, match="rescan_id"):
        ScanInfo(kind=ScanKind.LIVE, rescan_id="r-1")


def test_scan_error_keeps_original_bytes_exactly() -> None:
    original = b"\x00\xffnot json at all\x89"
    record = ScanError(
        reason=ReasonCode.UNDECODABLE,
        detail="not JSON",
        retryable=False,
        source_topic="content.uploads",
        source_partition=3,
        source_offset=42,
        key=b"\xfe\xff",
        value=original,
        attempts=1,
        first_seen=NOW,
        last_seen=NOW,
    )
    decoded = ScanError.decode(record.encode())
    assert decoded.value == original and decoded.key == b"\xfe\xff"
    assert decoded.reason is ReasonCode.UNDECODABLE


def test_an_event_round_trips_and_an_unknown_schema_version_is_refused_on_decode() -> None:
    event = UploadEvent.decode(_raw())
    assert UploadEvent.decode(event.encode()) == event
    with pytest.raises(EventDecodeError):
        UploadEvent.decode(_raw(schema_version=9))


@pytest.mark.parametrize(
    ("field", "lowest"),
    [("api_ms", 0), ("quota_ms", 0), ("total_ms", 0)],
)
def test_timings_accept_zero_and_refuse_anything_below(field: str, lowest: float) -> None:
    moments = {
        "received_at": datetime(2026, 1, 1, tzinfo=UTC),
        "scanned_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    given = {"api_ms": 1.0, "total_ms": 1.0}
    assert Timings(**moments, **given).quota_ms == 0  # no wait for quota unless measured
    assert getattr(Timings(**moments, **{**given, field: lowest}), field) == lowest
    with pytest.raises(ValidationError, match=field):
        Timings(**moments, **{**given, field: lowest - 0.001})


def test_a_match_distance_is_zero_or_more() -> None:
    assert MatchDetail(source="Test", distance=0).distance == 0
    with pytest.raises(ValidationError, match="distance"):
        MatchDetail(source="Test", distance=-1)


def test_a_verdict_took_at_least_one_call() -> None:
    data = json.loads(_verdict(ScanInfo(), is_match=True).encode())
    assert Verdict.decode(json.dumps({**data, "attempts": 1})).attempts == 1
    assert Verdict.decode(json.dumps({**data, "attempts": 2})).attempts == 2  # a retried call
    with pytest.raises(EventDecodeError, match="attempts"):
        Verdict.decode(json.dumps({**data, "attempts": 0}))


def test_a_saver_answer_took_no_call_and_never_fewer() -> None:
    cached = {"answered_by": "cache", "reused_answer": REUSED}
    assert Verdict.decode(_as(True, **cached, attempts=0)).attempts == 0
    with pytest.raises(EventDecodeError, match="attempts"):
        Verdict.decode(_as(True, **cached, attempts=-1))


def test_a_bank_match_distance_is_zero_or_more() -> None:
    assert BankMatch(**{**BANK, "signal": "pdq", "distance": 0}).distance == 0
    with pytest.raises(ValidationError, match="distance"):
        BankMatch(**{**BANK, "signal": "pdq", "distance": -1})


def test_verdict_parts_refuse_unknown_fields_and_changes() -> None:
    with pytest.raises(ValidationError, match="extra"):
        ScanInfo(kind=ScanKind.LIVE, colour="red")  # type: ignore[call-arg]
    scan = ScanInfo()
    with pytest.raises(ValidationError, match="frozen"):
        scan.kind = ScanKind.RESCAN  # type: ignore[misc]


BANK = {"bank": "own", "entry_id": "e1", "signal": "sha256", "report_to_ncmec": False}
REUSED = {"tracking_id": "WUS_1", "answered_at": "2026-11-01T12:00:00Z"}


def _as(is_match: bool, **fields: object) -> str:
    return json.dumps({**json.loads(_verdict(ScanInfo(), is_match=is_match).encode()), **fields})


def test_a_verdict_without_the_savers_fields_reads_as_a_first_hand_answer() -> None:
    data = json.loads(_verdict(ScanInfo(), is_match=False).encode())
    for name in ("answered_by", "reused_answer", "bank_matches"):
        del data[name]
    data["schema_version"] = 1
    old = Verdict.decode(json.dumps(data))
    assert (old.answered_by, old.reused_answer, old.bank_matches) == ("photodna", None, [])


@pytest.mark.parametrize(
    ("is_match", "fields", "message"),
    [
        (False, {"bank_matches": [BANK]}, "clear verdict cannot carry"),
        (False, {"answered_by": "bank:own"}, "a bank answers only matches"),
        (False, {"answered_by": "cache"}, "reused_answer is required"),
        (False, {"reused_answer": REUSED}, "reused_answer is required"),
        (True, {"answered_by": "cache", "reused_answer": REUSED, "attempts": 0}, None),
        (True, {"answered_by": "cache", "reused_answer": REUSED, "tracking_id": ""}, "TrackingId"),
        (True, {"answered_by": "bank:own", "bank_matches": [BANK], "tracking_id": ""}, None),
        (True, {"answered_by": "photodna", "tracking_id": ""}, "TrackingId"),
        (True, {"answered_by": "hunch"}, "answered_by"),
        (True, {"answered_by": "bank:"}, "answered_by"),
    ],
)
def test_every_verdict_stays_traceable_and_no_saver_answers_clear(
    is_match: bool, fields: dict[str, object], message: str | None
) -> None:
    if message is None:
        assert Verdict.decode(_as(is_match, **fields)).answered_by == fields["answered_by"]
        return
    with pytest.raises(EventDecodeError, match=message):
        Verdict.decode(_as(is_match, **fields))


def test_reporting_acts_on_photodna_matches_and_on_banks_that_report() -> None:
    own = make_verdict(matches=[], answered_by="bank:own", bank_matches=[BankMatch(**BANK)])
    csam = own.model_copy(update={"bank_matches": [BankMatch(**{**BANK, "report_to_ncmec": True})]})
    assert (make_verdict().reportable, own.reportable, csam.reportable) == (True, False, True)
