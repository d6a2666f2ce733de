"""Rescans: the requests (past uploads scanned again, in their own lane), the manifest of each
run and one outcome per request, from which ``hashgate rescan status`` counts progress."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from streams.errors import ReasonCode
from streams.events.base import Event
from streams.events.scan_error import ScanError
from streams.events.upload import Id, UploadEvent
from streams.events.verdict import Verdict, VerdictKind


class RescanRequest(Event):
    """Published by ``hashgate rescan`` to ``content.rescans``; key ``content_id``."""

    schema_name = "rescan_request"

    schema_version: Literal[1] = 1
    rescan_id: Id = Field(description="Names the rescan; verdict ids derive from it.")
    requested_at: AwareDatetime
    only_changed: bool = Field(
        False, description="Emit a verdict only if it differs from the content's last one."
    )
    upload: UploadEvent = Field(description="The original upload event, unchanged.")


class RunState(StrEnum):
    SELECTING = "selecting"  # requests are being published; the total is not known yet
    PUBLISHED = "published"  # every request is in the rescans topic; ``total`` is final


class SelectionInfo(BaseModel):
    """The filters of a run, as the operator gave them (for ``status``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_topic: str
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    tenants: list[str] = Field(default_factory=list)
    content_ids: int | None = Field(None, description="How many ids the ids file listed.")


class RescanManifest(Event):
    """One run of a rescan; a re-run with the same id replaces it (same verdict ids)."""

    schema_name = "rescan_manifest"

    schema_version: Literal[1] = 1
    rescan_id: Id
    state: RunState
    requested_at: AwareDatetime
    only_changed: bool
    selection: SelectionInfo
    progress_from: dict[int, int] = Field(
        description="Per partition of the progress topic, the offset this run's outcomes "
        "start at (its end when the run began)."
    )
    total: int | None = Field(None, ge=0, description="Requests published, once known.")
    invalid: int = Field(0, ge=0, description="Records in range that are not upload events.")
    duplicates: int = Field(0, ge=0, description="Upload events seen twice (same event id).")
    published_at: AwareDatetime | None = None

    @property
    def key(self) -> bytes:
        return self.rescan_id.encode()


class Result(StrEnum):
    MATCH = "match"  # a match verdict was emitted
    CLEAR = "clear"  # a clear verdict was emitted
    UNCHANGED = "unchanged"  # --only-changed: same as the content's last verdict, not emitted
    ERROR = "error"  # dead-lettered; a DLQ replay may turn it into one of the above


class RescanOutcome(Event):
    """The final result of one rescan request; the last one per event id counts."""

    schema_name = "rescan_outcome"

    schema_version: Literal[1] = 1
    rescan_id: Id
    event_id: Id
    content_id: Id
    result: Result
    verdict_id: str | None = None
    reason: ReasonCode | None = None
    at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def key(self) -> bytes:
        return self.rescan_id.encode()

    @classmethod
    def of_verdict(cls, verdict: Verdict, *, emitted: bool) -> RescanOutcome | None:
        """None for live verdicts: only rescans are accounted for here."""
        if verdict.scan.rescan_id is None:
            return None
        if not emitted:
            result = Result.UNCHANGED
        elif verdict.verdict is VerdictKind.MATCH:
            result = Result.MATCH
        else:
            result = Result.CLEAR
        return cls(
            rescan_id=verdict.scan.rescan_id,
            event_id=verdict.event_id,
            content_id=verdict.content_id,
            result=result,
            verdict_id=verdict.verdict_id,
        )

    @classmethod
    def of_error(cls, error: ScanError) -> RescanOutcome | None:
        """None unless the DLQ record is a rescan request that decoded far enough."""
        if error.scan.rescan_id is None or error.event_id is None or error.content_id is None:
            return None
        return cls(
            rescan_id=error.scan.rescan_id,
            event_id=error.event_id,
            content_id=error.content_id,
            result=Result.ERROR,
            reason=error.reason,
        )
