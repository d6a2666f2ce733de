"""The DLQ record: a refused input, kept byte for byte with the reason it was refused."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from streams.errors import REPLAYABLE_REASONS, ReasonCode
from streams.events.base import Event
from streams.events.verdict import ScanInfo


class ScanError(Event):
    """Emitted to ``content.scan.errors``; key: the original record's key.

        ``key`` and ``value`` hold the original bytes exactly (base64 in JSON), also when they were
        not valid JSON, so ``hashgate dlq replay`` can re-inject them unchanged. In JSON they are
    URL-safe base64 (pydantic's encoding): decode with ``base64.urlsafe_b64decode``.
    """

    schema_name = "scan_error"

    schema_version: Literal[1] = 1
    reason: ReasonCode
    detail: str = Field(description="Human-readable; never holds image bytes or secrets.")
    retryable: bool = Field(description="Whether a replay of the same bytes may succeed.")
    source_topic: str
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
    key: bytes | None = Field(description="The original record key (URL-safe base64).")
    value: bytes | None = Field(description="The original record value (URL-safe base64).")
    attempts: int = Field(ge=1, description="Scans of this record so far, replays included.")
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    event_id: str | None = Field(None, description="When the value decoded far enough.")
    content_id: str | None = None
    tenant: str | None = None
    scan: ScanInfo = Field(default_factory=ScanInfo)

    @staticmethod
    def is_retryable(reason: ReasonCode) -> bool:
        return reason in REPLAYABLE_REASONS


class DlqReplayMark(Event):
    """Written by ``hashgate dlq replay`` for each DLQ record it re-injected; key
    ``<partition>/<offset>`` of that DLQ record. Compacted: a later run skips marked records, so
    a record whose replay is on its way (or came back as a new DLQ record) is never sent twice.
    """

    schema_name = "dlq_replay_mark"

    schema_version: Literal[1] = 1
    dlq_topic: str
    dlq_partition: int = Field(ge=0)
    dlq_offset: int = Field(ge=0)
    replayed_to: str = Field(description="The lane topic the original bytes went back to.")
    replays: int = Field(ge=1, description="The hashgate-replays header the replay carried.")
    replayed_at: AwareDatetime

    @property
    def key(self) -> bytes:
        return mark_key(self.dlq_partition, self.dlq_offset)


def mark_key(partition: int, offset: int) -> bytes:
    return f"{partition}/{offset}".encode()
