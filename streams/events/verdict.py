"""The result of scanning one upload: what moderation and reporting act on."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from enum import StrEnum
from functools import lru_cache
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, model_validator

from streams.events.base import Event
from streams.events.upload import Id, Uploader, UploadEvent

#: Namespace of verdict ids; never change it, consumers de-duplicate on the ids it yields.
VERDICT_NAMESPACE = uuid.UUID("5d0f4c1e-8a57-4f7e-9a4b-3c2f6d1e0b77")


class VerdictKind(StrEnum):
    MATCH = "match"
    CLEAR = "clear"


class ScanKind(StrEnum):
    LIVE = "live"
    RESCAN = "rescan"


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScanInfo(_Part):
    """Which scan produced a verdict: the live lane, or one operator-started rescan."""

    kind: ScanKind = ScanKind.LIVE
    rescan_id: Id | None = None

    @model_validator(mode="after")
    def _rescan_has_id(self) -> Self:
        if (self.kind is ScanKind.RESCAN) != (self.rescan_id is not None):
            raise ValueError("rescan_id is required for, and only for, kind 'rescan'")
        return self


class MatchDetail(_Part):
    """One PhotoDNA match flag: which hash list matched and what it is classed as."""

    source: str
    violations: list[str] = Field(default_factory=list)
    match_id: str | None = None
    distance: int | None = Field(
        None, ge=0, description="PhotoDNA's MatchDistance, when it gives one; smaller is closer."
    )


class Timings(_Part):
    received_at: AwareDatetime = Field(description="When the worker took the event.")
    scanned_at: AwareDatetime = Field(description="When PhotoDNA's final answer arrived.")
    api_ms: float = Field(ge=0, description="Time spent in PhotoDNA calls, all attempts.")
    quota_ms: float = Field(
        0.0, ge=0, description="Time waiting for the PhotoDNA quota (rate limiter), all attempts."
    )
    total_ms: float = Field(ge=0, description="From received_at to the verdict.")


class ReusedAnswer(_Part):
    """The first-hand PhotoDNA answer a cached verdict repeats, so it stays traceable."""

    tracking_id: str = Field(description="TrackingId of the PhotoDNA call that answered.")
    answered_at: AwareDatetime = Field(description="When that PhotoDNA answer arrived.")


class BankMatch(_Part):
    """One entry of a local hash bank that matched the image's bytes."""

    bank: str = Field(description="The bank's name.")
    entry_id: str = Field(description="The entry's id within its bank.")
    signal: Literal["pdq", "md5", "sha256"] = Field(description="Which hash matched.")
    distance: int | None = Field(None, ge=0, description="PDQ Hamming distance; null if exact.")
    report_to_ncmec: bool = Field(
        description="Whether the bank is a CSAM list whose matches go to NCMEC reporting."
    )


#: Who answered a verdict: PhotoDNA first-hand, the duplicate cache, or a local bank.
ANSWERED_BY_PATTERN = r"^(photodna|cache|bank:.+)$"


def verdict_id_for(event_id: str, scan: ScanInfo) -> str:
    """Same event + same scan gives the same id, so replays and duplicates de-duplicate."""
    return _derived_id(f"{event_id}\x1f{scan.kind.value}\x1f{scan.rescan_id or ''}")


@lru_cache(maxsize=256)  # pragma: no mutate (a cache: its size changes only speed)
def _derived_id(name: str) -> str:
    """Cached for the verdict that was just built: ``Verdict.for_upload`` derives the id and
    the model's check derives it again, a uuid5 (SHA-1) each time."""
    return str(uuid.uuid5(VERDICT_NAMESPACE, name))


class Verdict(Event):
    """Emitted to ``content.verdicts.match`` or ``content.verdicts.clear``; key ``content_id``.

    ``clear`` exists only for a PhotoDNA answer with Status 3000 and ``IsMatch: false``.
    """

    schema_name = "verdict"

    schema_version: Literal[1] = 1
    verdict_id: str = Field(description="Deterministic: uuid5 of event id and scan.")
    verdict: VerdictKind
    event_id: Id
    content_id: Id
    tenant: Id
    tracking_id: str = Field(
        description="PhotoDNA's TrackingId of the answering call (for a cache hit, of the call "
        "it reuses); empty when a bank answered without a PhotoDNA call."
    )
    matches: list[MatchDetail] = Field(default_factory=list)
    enhanced: bool = Field(description="Whether PhotoDNA's enhance mode was on.")
    attempts: int = Field(
        ge=0, description="PhotoDNA calls made for this verdict (0: the cache or a bank answered)."
    )
    timings: Timings
    scan: ScanInfo = Field(default_factory=ScanInfo)
    media_url: HttpUrl
    media_type: str | None = None
    uploaded_at: AwareDatetime
    uploader: Uploader | None = None
    metadata: dict[str, object] = Field(default_factory=dict)
    answered_by: str = Field(
        "photodna",
        pattern=ANSWERED_BY_PATTERN,
        description="What answered: `photodna`, `cache` (a reused PhotoDNA answer) or "
        "`bank:<name>` (a local hash bank).",
    )
    reused_answer: ReusedAnswer | None = Field(
        None, description="For a cache hit: the PhotoDNA answer it repeats."
    )
    bank_matches: list[BankMatch] = Field(
        default_factory=list, description="Local hash bank entries that matched."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.verdict is VerdictKind.CLEAR and (self.matches or self.bank_matches):
            raise ValueError("a clear verdict cannot carry match details")
        if self.verdict is VerdictKind.CLEAR and self.answered_by.startswith("bank:"):
            raise ValueError("a bank answers only matches; a clear needs PhotoDNA")
        if (self.answered_by == "cache") != (self.reused_answer is not None):
            raise ValueError("reused_answer is required for, and only for, a cache answer")
        if self.attempts < 1 and self.answered_by == "photodna":
            raise ValueError("attempts: a first-hand PhotoDNA answer took at least one call")
        if not self.tracking_id and not self.answered_by.startswith("bank:"):
            raise ValueError("only a bank answer may lack a PhotoDNA TrackingId")
        if self.verdict_id != verdict_id_for(self.event_id, self.scan):
            raise ValueError("verdict_id does not derive from event_id and scan")
        return self

    @property
    def reportable(self) -> bool:
        """Whether NCMEC reporting acts on it: a PhotoDNA match, or a bank set to report."""
        return bool(self.matches) or any(b.report_to_ncmec for b in self.bank_matches)

    @classmethod
    def for_upload(
        cls,
        upload: UploadEvent,
        *,  # pragma: no mutate (callers pass these by name)
        is_match: bool,
        matches: list[MatchDetail],
        tracking_id: str,
        enhanced: bool,
        attempts: int,
        timings: Timings,
        scan: ScanInfo,
        answered_by: str = "photodna",
        reused_answer: ReusedAnswer | None = None,
        bank_matches: Sequence[BankMatch] = (),
    ) -> Verdict:
        """Callers pass ``is_match=False`` only for a Status 3000 answer that said so."""
        return cls(
            verdict_id=verdict_id_for(upload.event_id, scan),
            verdict=VerdictKind.MATCH if is_match else VerdictKind.CLEAR,
            event_id=upload.event_id,
            content_id=upload.content_id,
            tenant=upload.tenant,
            tracking_id=tracking_id,
            matches=matches,
            enhanced=enhanced,
            attempts=attempts,
            timings=timings,
            scan=scan,
            media_url=upload.media_url,
            media_type=upload.media_type,
            uploaded_at=upload.uploaded_at,
            uploader=upload.uploader,
            metadata=upload.metadata,
            answered_by=answered_by,
            reused_answer=reused_answer,
            bank_matches=list(bank_matches),
        )
