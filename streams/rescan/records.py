"""What rescans write besides their requests: a manifest per run and one outcome per request.

Two small topics next to the rescans topic (names derived from it, so they follow its config):

- ``<rescans>.status``, compacted, key ``rescan_id``: the latest ``RescanManifest`` of each
  rescan: its selection, the number of requests published, and where its outcomes start.
- ``<rescans>.progress``, key ``rescan_id``: one ``RescanOutcome`` per finished request,
  written by the worker with the verdict (or DLQ record) and before the request is acked.

Counting outcomes there costs one pass over the rescan's own records; counting verdict topics
instead would mean reading every live verdict written since the rescan began.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from streams.errors import ReasonCode
from streams.events import ScanError, Verdict, VerdictKind
from streams.events.base import Event
from streams.events.upload import Id
from streams.settings import Settings, TopicSettings

#: Outcomes are kept this long, so a rescan that runs for weeks can still be counted.
PROGRESS_RETENTION_MS = 30 * 24 * 3600 * 1000


def status_topic(topics: TopicSettings) -> str:
    return f"{topics.rescans}.status"


def progress_topic(topics: TopicSettings) -> str:
    return f"{topics.rescans}.progress"


def rescan_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """Topics the rescan command writes, with their configs (for ``ensure_topics``)."""
    topics = settings.topics
    return {
        topics.rescans: {},
        status_topic(topics): {"cleanup.policy": "compact"},
        progress_topic(topics): {"retention.ms": str(PROGRESS_RETENTION_MS)},
    }


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
