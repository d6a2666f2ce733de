"""``hashgate dlq replay``: put dead-lettered records back into the lane they came from.

The original key and value bytes go back unchanged, with headers that carry the record's
history: ``hashgate-replays`` (previous replays + 1) and ``hashgate-attempts`` (scans so far),
so a record that fails again returns to the DLQ with both counted. The worker dead-letters a
record replayed more than ``HASHGATE_SCAN__DLQ_REPLAY_LIMIT`` times for good
(``replay_limit_reached``), and this command does not even send those: nothing loops forever.

Each DLQ record is replayed once. After its replay is confirmed, the command writes a
``DlqReplayMark`` (key: the DLQ record's partition and offset) to the compacted
``<dlq>.replayed`` topic, and every run skips marked records (``already_replayed``). Without the
marks, each run without a range also re-sent the older DLQ copies of a record whose replay had
failed again (or was still waiting in its lane): one unreachable upload was replayed 1, 2, 4, 7
and 11 times over five runs. A replay whose mark was not yet written when the command died is
sent again by the next run: at least once, and its verdict carries the same ``verdict_id``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from streams.errors import ConfigurationError, EventDecodeError, ReasonCode
from streams.events import DlqReplayMark, ScanError, ScanKind
from streams.events.scan_error import mark_key
from streams.events.topics import (
    declared,
    topic_name,
)
from streams.kafka.confirmed import Headers, WindowedWriter, windowed_writer
from streams.kafka.record import ATTEMPTS_HEADER, FIRST_SEEN_HEADER, REPLAYS_HEADER
from streams.kafka.spans import (
    Reader,
    partitions_of,
    plan_spans,
    read_spans,
)
from streams.kafka.spans import reader as kafka_reader
from streams.kafka.topics import ensure_topics
from streams.settings import Settings, TopicSettings


class Skip(StrEnum):
    """Why a DLQ record in range was not replayed."""

    OTHER_REASON = "other_reason"  # not one of the --reason values
    NOT_RETRYABLE = "not_retryable"  # a permanent reason, and --retryable-only is on
    REPLAY_LIMIT = "replay_limit"  # already replayed as often as the worker allows
    NO_VALUE = "no_value"  # the original record had no value: nothing to scan
    UNREADABLE = "unreadable"  # the DLQ record itself is not a ScanError
    OUT_OF_RANGE = "out_of_range"  # its timestamp is outside --since/--until
    ALREADY_REPLAYED = "already_replayed"  # an earlier run re-injected it (a mark says so)


@dataclass(frozen=True)
class ReplayFilter:
    reasons: frozenset[ReasonCode] = frozenset()  # empty: any reason
    retryable_only: bool = True
    since: datetime | None = None
    until: datetime | None = None

    def in_range(self, when: datetime) -> bool:
        return (self.since is None or when >= self.since) and (
            self.until is None or when < self.until
        )


@dataclass(frozen=True)
class Replay:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers
    reason: ReasonCode
    replays: int


def target_topic(error: ScanError, topics: TopicSettings) -> str:
    """The lane's source topic: a record from the retry topic goes by the scan it was part of."""
    if error.source_topic in (topics.uploads, topics.rescans):
        return error.source_topic
    return topics.rescans if error.scan.kind is ScanKind.RESCAN else topics.uploads


def replays_of(headers: Headers) -> int:
    for name, value in headers:
        if name == REPLAYS_HEADER:
            try:
                return max(int(value), 0)
            except ValueError:
                return 0
    return 0


def plan_replay(
    value: bytes | None,
    headers: Headers,
    timestamp: datetime,
    *,
    rules: ReplayFilter,
    topics: TopicSettings,
    replay_limit: int,
) -> Replay | Skip:
    """What to do with one DLQ record: the record to publish, or why not."""
    if not rules.in_range(timestamp):
        return Skip.OUT_OF_RANGE
    try:
        error = ScanError.decode(value or b"")
    except EventDecodeError:
        return Skip.UNREADABLE
    if rules.reasons and error.reason not in rules.reasons:
        return Skip.OTHER_REASON
    if rules.retryable_only and not error.retryable:
        return Skip.NOT_RETRYABLE
    replays = replays_of(headers) + 1
    if replays > replay_limit:
        return Skip.REPLAY_LIMIT
    if error.value is None:
        return Skip.NO_VALUE
    return Replay(
        topic=target_topic(error, topics),
        key=error.key,
        value=error.value,
        headers=[
            (REPLAYS_HEADER, str(replays).encode()),
            (ATTEMPTS_HEADER, str(error.attempts).encode()),
            (FIRST_SEEN_HEADER, error.first_seen.isoformat().encode()),
        ],
        reason=error.reason,
        replays=replays,
    )


@dataclass
class ReplayReport:
    dry_run: bool
    records_in_range: int = 0
    replayed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (reason, topic)
    skipped: Counter[Skip] = field(default_factory=Counter)

    @property
    def total_replayed(self) -> int:
        return sum(self.replayed.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "records_in_range": self.records_in_range,
            "replayed": self.total_replayed,
            "replayed_by_reason_and_topic": [
                {"reason": reason, "topic": topic, "count": count}
                for (reason, topic), count in sorted(self.replayed.items())
            ],
            "skipped": {skip.value: count for skip, count in sorted(self.skipped.items())},
        }


async def replayed_already(consumer: Reader, settings: Settings) -> set[bytes]:
    """Keys (``partition/offset``) of the DLQ records earlier runs re-injected."""
    topic = topic_name(settings.topics, "scan_errors_replayed")
    try:
        partitions = await partitions_of(settings, topic)
    except ConfigurationError:  # no run has replayed anything yet (a dry run creates nothing)
        return set()
    spans = await plan_spans(consumer, topic, partitions)
    return {record.key async for batch in read_spans(consumer, spans) for record in batch}


async def _confirm(sender: WindowedWriter, marks: list[DlqReplayMark], topic: str) -> None:
    """Marks go out only once the replays they vouch for are acknowledged."""
    await sender.flush()
    for mark in marks:
        await sender.write(topic, mark.key, mark.encode(), [])
    await sender.flush()
    marks.clear()


async def replay_dlq(
    settings: Settings,
    rules: ReplayFilter,
    *,
    dry_run: bool = False,
) -> ReplayReport:
    """Replays every matching DLQ record not replayed before, up to the DLQ's end when the
    call began, and marks each one replayed."""
    topic = settings.topics.scan_errors
    marks_topic = topic_name(settings.topics, "scan_errors_replayed")
    if not dry_run:
        await ensure_topics(settings, declared(settings, "scan_errors_replayed"))
    report = ReplayReport(dry_run=dry_run)
    async with kafka_reader(settings) as consumer, windowed_writer(settings) as sender:
        done = await replayed_already(consumer, settings)
        spans = await plan_spans(
            consumer,
            topic,
            await partitions_of(settings, topic),
            since=rules.since,
            until=rules.until,
        )
        report.records_in_range = sum(span.size for span in spans)
        marks: list[DlqReplayMark] = []
        async for batch in read_spans(consumer, spans):
            for record in batch:
                if mark_key(record.partition, record.offset) in done:
                    report.skipped[Skip.ALREADY_REPLAYED] += 1
                    continue
                planned = plan_replay(
                    record.value,
                    list(record.headers),
                    datetime.fromtimestamp(record.timestamp / 1000, UTC),
                    rules=rules,
                    topics=settings.topics,
                    replay_limit=settings.scan.dlq_replay_limit,
                )
                if isinstance(planned, Skip):
                    report.skipped[planned] += 1
                    continue
                if not dry_run:
                    await sender.write(planned.topic, planned.key, planned.value, planned.headers)
                    marks.append(
                        DlqReplayMark(
                            dlq_topic=topic,
                            dlq_partition=record.partition,
                            dlq_offset=record.offset,
                            replayed_to=planned.topic,
                            replays=planned.replays,
                            replayed_at=datetime.now(UTC),
                        )
                    )
                report.replayed[(planned.reason.value, planned.topic)] += 1
            if marks:
                await _confirm(sender, marks, marks_topic)
    return report
