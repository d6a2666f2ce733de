"""The demo's plan and accounting: what it claims in its summary must be what happened."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hashgate_tools.demo.tally import Tally, percentile
from hashgate_tools.demo.workload import SampleFolder, plan_records
from streams.errors import EventDecodeError, ReasonCode
from streams.events import ScanError, UploadEvent, Verdict, VerdictKind
from streams.events.verdict import MatchDetail, ScanInfo, Timings

pytestmark = pytest.mark.unit

SAMPLES = SampleFolder(
    Path("/nowhere"),
    known=["k1.png", "k2.png"],
    reencoded=["k1-reupload.jpg", "k2-reupload.jpg"],
    unknown=["u1.png", "u2.png", "u3.png"],
    not_an_image="page.png",
    too_small="small.png",
)


def url(name: str) -> str:
    return f"http://127.0.0.1:9/images/{name}"


def verdict_for(record_value: bytes, kind: VerdictKind) -> Verdict:
    upload = UploadEvent.decode(record_value)
    now = datetime.now(UTC)
    return Verdict.for_upload(
        upload,
        is_match=kind is VerdictKind.MATCH,
        matches=[MatchDetail(source="Test", violations=["A1"])]
        if kind is VerdictKind.MATCH
        else [],
        tracking_id="t-1",
        enhanced=False,
        attempts=1,
        timings=Timings(received_at=now, scanned_at=now, api_ms=1, total_ms=1),
        scan=ScanInfo(),
    )


def dlq_record(key: bytes, reason: ReasonCode) -> ScanError:
    now = datetime.now(UTC)
    return ScanError(
        reason=reason,
        detail="x",
        retryable=False,
        source_topic="uploads",
        source_partition=0,
        source_offset=0,
        key=key,
        value=b"{",
        attempts=1,
        first_seen=now,
        last_seen=now,
    )


def test_plan_has_every_upload_a_known_share_and_three_bad_records() -> None:
    records = plan_records(100, SAMPLES, url, run_id="r1")

    assert len(records) == 103
    assert len({r.key for r in records}) == 103
    expected = [r.expected for r in records]
    assert expected.count(VerdictKind.MATCH) == 12
    assert expected.count(VerdictKind.CLEAR) == 88
    assert {ReasonCode.UNDECODABLE, ReasonCode.NOT_AN_IMAGE, ReasonCode.IMAGE_SIZE_OUT_OF_RANGE} < (
        set(expected)
    )
    assert {r.tenant for r in records} == {"picshare", "chatly", "forumhub"}
    for record in records:
        if record.expected is ReasonCode.UNDECODABLE:
            with pytest.raises(EventDecodeError):
                UploadEvent.decode(record.value)
        else:
            upload = UploadEvent.decode(record.value)
            assert upload.key == record.key
            is_known = any(
                upload.media_url.path.endswith(n) for n in SAMPLES.known + SAMPLES.reencoded
            )
            assert is_known == (record.expected is VerdictKind.MATCH)


def test_summary_accounts_by_key_and_flags_wrong_or_missing_outcomes() -> None:
    records = plan_records(3, SAMPLES, url, run_id="r2")
    tally = Tally(started_at=0.0)
    tally.plan(records)
    for n, record in enumerate(records):
        tally.published(record, at=1.0 + n)
    by_expected = {r.expected: r for r in records}
    match = by_expected[VerdictKind.MATCH]
    broken = by_expected[ReasonCode.UNDECODABLE]
    a_clear = by_expected[VerdictKind.CLEAR]

    assert tally.add_verdict(verdict_for(match.value, VerdictKind.MATCH), at=10.0) is not None
    tally.add_error(dlq_record(broken.key, ReasonCode.UNDECODABLE), at=10.0)
    wrong = tally.add_verdict(verdict_for(a_clear.value, VerdictKind.MATCH), at=10.0)
    again = tally.add_verdict(verdict_for(match.value, VerdictKind.MATCH), at=11.0)
    summary = tally.summary(now=20.0)

    assert wrong is not None and not wrong.as_expected
    assert again is not None and again.duplicate
    assert summary.published == summary.planned == 6
    assert summary.accounted == 3 and summary.duplicates == 1
    assert len(summary.missing) == 3 and len(summary.unexpected) == 1
    assert summary.dlq == {"undecodable": 1}
    assert not summary.ok
    assert not tally.finished(now=20.0, settle_s=60.0)
    assert tally.finished(now=100.0, settle_s=60.0)  # gave up waiting


def test_percentile_is_an_observed_value() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile([], 0.5) == 0.0
