"""hashgate's view of one consumed Kafka record: the raw bytes, where they came from, headers.

The scan worker and the downstream agents decode the bytes themselves, so a record that does
not decode reaches a DLQ unchanged; ``source_record`` takes one off a faust event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import faust
from faust.types import AppT, EventT, Message, StreamT

from streams.errors import ReasonCode
from streams.events import ScanError, ScanInfo

#: Headers hashgate sets when it re-publishes a record (retry lane, DLQ replay).
ATTEMPTS_HEADER = "hashgate-attempts"
FIRST_SEEN_HEADER = "hashgate-first-seen"
NOT_BEFORE_HEADER = "hashgate-not-before"
REPLAYS_HEADER = "hashgate-replays"


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """Raw input: the scan agent decodes it itself, so bad bytes reach the DLQ unchanged."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    received_at: datetime

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def int_header(self, name: str, default: int = 0) -> int:
        raw = self.header(name)
        try:
            return int(raw) if raw is not None else default
        except ValueError:
            return default

    def time_header(self, name: str) -> datetime | None:
        raw = self.header(name)
        try:
            return datetime.fromisoformat(raw.decode()) if raw else None
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def previous_attempts(self) -> int:
        """Scans of this record before this one (retry lane and DLQ replays count)."""
        return max(self.int_header(ATTEMPTS_HEADER), 0)

    @property
    def first_seen(self) -> datetime:
        return self.time_header(FIRST_SEEN_HEADER) or self.received_at


def source_record(event: EventT[bytes]) -> SourceRecord:
    message = event.message
    return SourceRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=_headers(message),
        received_at=datetime.now(UTC),
    )


def manual_acks(stream: StreamT[bytes]) -> StreamT[bytes]:
    """The same stream, but faust acks none of its events: whoever reads it acks each one once
    its outcome is written (an exception in an agent would otherwise ack and skip it)."""
    return cast(faust.Stream[bytes], stream).noack()


def taken_in_current_generation(app: AppT, event: EventT[bytes]) -> bool:
    """faust's own test of a stale event (as its stream applies before yielding one): False once
    a rebalance began after faust handed the event over, because its partition may be another
    worker's now, or this worker's again from the committed offset."""
    return (
        app.flow_control.is_active() and event.message.generation_id == app.consumer_generation_id
    )


def _headers(message: Message) -> tuple[tuple[str, bytes], ...]:
    headers = message.headers or ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((k, v if isinstance(v, bytes) else str(v).encode()) for k, v in pairs)


def dead_letter(
    record: SourceRecord,
    reason: ReasonCode,
    detail: str,
    *,
    now: datetime,
    attempts: int,
    first_seen: datetime,
    event_id: str | None = None,
    content_id: str | None = None,
    tenant: str | None = None,
    scan: ScanInfo | None = None,
) -> ScanError:
    """The DLQ record for ``record``: its bytes unchanged, where it came from, and why."""
    return ScanError(
        reason=reason,
        detail=detail,
        retryable=ScanError.is_retryable(reason),
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        key=record.key,
        value=record.value,
        attempts=attempts,
        first_seen=first_seen,
        last_seen=now,
        event_id=event_id,
        content_id=content_id,
        tenant=tenant,
        scan=scan or ScanInfo(),
    )
