"""Which DLQ records a replay sends back, where to, with which headers, and which it skips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.errors import ReasonCode
from streams.events import ScanError, ScanInfo, ScanKind
from streams.kafka.record import ATTEMPTS_HEADER, FIRST_SEEN_HEADER, REPLAYS_HEADER
from streams.rescan.dlq import Replay, ReplayFilter, Skip, plan_replay
from streams.settings import TopicSettings

pytestmark = pytest.mark.unit

T0 = datetime(2026, 6, 1, tzinfo=UTC)
TOPICS = TopicSettings()
ORIGINAL = b'{"not": "parsed by the replay"}'


def dlq_record(
    reason: ReasonCode = ReasonCode.MEDIA_UNREACHABLE,
    *,
    source_topic: str = TOPICS.uploads,
    scan: ScanInfo | None = None,
    value: bytes | None = ORIGINAL,
    attempts: int = 1,
) -> bytes:
    return ScanError(
        reason=reason,
        detail="x",
        retryable=ScanError.is_retryable(reason),
        source_topic=source_topic,
        source_partition=3,
        source_offset=9,
        key=b"c-1",
        value=value,
        attempts=attempts,
        first_seen=T0,
        last_seen=T0,
        scan=scan or ScanInfo(),
    ).encode()


def plan(
    value: bytes,
    *,
    replays: int | None = None,
    rules: ReplayFilter | None = None,
    at: datetime = T0,
) -> Replay | Skip:
    headers = [] if replays is None else [(REPLAYS_HEADER, str(replays).encode())]
    return plan_replay(
        value, headers, at, rules=rules or ReplayFilter(), topics=TOPICS, replay_limit=3
    )


def test_the_original_bytes_go_back_with_their_history_in_headers() -> None:
    planned = plan(dlq_record(attempts=4), replays=1)

    assert isinstance(planned, Replay)
    assert (planned.topic, planned.key, planned.value) == (TOPICS.uploads, b"c-1", ORIGINAL)
    assert planned.headers == [
        (REPLAYS_HEADER, b"2"),
        (ATTEMPTS_HEADER, b"4"),
        (FIRST_SEEN_HEADER, T0.isoformat().encode()),
    ]


@pytest.mark.parametrize(
    ("source_topic", "scan", "target"),
    [
        (TOPICS.uploads, ScanInfo(), TOPICS.uploads),
        (TOPICS.rescans, ScanInfo(kind=ScanKind.RESCAN, rescan_id="rs"), TOPICS.rescans),
        (TOPICS.retries, ScanInfo(kind=ScanKind.RESCAN, rescan_id="rs"), TOPICS.rescans),
        (TOPICS.retries, ScanInfo(), TOPICS.uploads),
    ],
)
def test_records_go_back_to_the_lane_they_came_from(
    source_topic: str, scan: ScanInfo, target: str
) -> None:
    planned = plan(dlq_record(ReasonCode.RETRIES_EXHAUSTED, source_topic=source_topic, scan=scan))
    assert isinstance(planned, Replay) and planned.topic == target


def test_records_at_the_replay_limit_are_not_sent_again() -> None:
    assert isinstance(plan(dlq_record(), replays=2), Replay)  # its third replay
    assert plan(dlq_record(), replays=3) is Skip.REPLAY_LIMIT


def test_permanent_reasons_are_skipped_unless_asked_for() -> None:
    record = dlq_record(ReasonCode.NOT_AN_IMAGE)
    assert plan(record) is Skip.NOT_RETRYABLE
    assert isinstance(plan(record, rules=ReplayFilter(retryable_only=False)), Replay)


def test_the_reason_filter_keeps_only_the_reasons_named() -> None:
    rules = ReplayFilter(reasons=frozenset({ReasonCode.RETRIES_EXHAUSTED}))
    assert plan(dlq_record(ReasonCode.MEDIA_UNREACHABLE), rules=rules) is Skip.OTHER_REASON
    assert isinstance(plan(dlq_record(ReasonCode.RETRIES_EXHAUSTED), rules=rules), Replay)


def test_the_time_range_is_checked_per_record() -> None:
    rules = ReplayFilter(since=T0, until=T0 + timedelta(hours=1))
    assert plan(dlq_record(), rules=rules, at=T0 - timedelta(seconds=1)) is Skip.OUT_OF_RANGE
    assert plan(dlq_record(), rules=rules, at=T0 + timedelta(hours=1)) is Skip.OUT_OF_RANGE
    assert isinstance(plan(dlq_record(), rules=rules, at=T0), Replay)


def test_unreadable_dlq_records_and_empty_originals_are_skipped_and_named() -> None:
    assert plan(b"garbage") is Skip.UNREADABLE
    assert plan(dlq_record(value=None)) is Skip.NO_VALUE
