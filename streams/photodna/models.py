"""What goes to PhotoDNA and what comes back, as typed values rather than JSON dicts.

Reprs never show image bytes, and an image URL only in redacted form: these objects end up in
log lines and tracebacks.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer
from pydantic.alias_generators import to_pascal

from streams.events import BankMatch, ReusedAnswer
from streams.observability.redact import redact_url

#: The Content-Types PhotoDNA takes for a raw image body.
SUPPORTED_CONTENT_TYPES = frozenset(
    {"image/gif", "image/jpeg", "image/png", "image/bmp", "image/tiff"}
)


# -- Match: the three ways to hand over an image ---------------------------------------------


@dataclass(frozen=True)
class ImageUrl:
    """PhotoDNA downloads the image itself, so the URL must be reachable from Microsoft."""

    url: str

    def __repr__(self) -> str:
        return f"ImageUrl({redact_url(self.url)!r})"


@dataclass(frozen=True)
class ImageBytes:
    """The raw image as the request body, with one of the supported Content-Types."""

    data: bytes = field(repr=False)
    content_type: str

    def __post_init__(self) -> None:
        if self.content_type not in SUPPORTED_CONTENT_TYPES:
            raise ValueError(
                f"content_type {self.content_type!r} is not one of "
                f"{', '.join(sorted(SUPPORTED_CONTENT_TYPES))}"
            )


@dataclass(frozen=True)
class InlineImage:
    """The image base64-encoded inside a JSON body."""

    data: bytes = field(repr=False)


ImageInput = ImageUrl | ImageBytes | InlineImage


# -- Match: the answer -----------------------------------------------------------------------


@dataclass(frozen=True)
class MatchFlag:
    """One hash list that matched: ``source`` ("Test" in the integration environment)."""

    source: str
    violations: list[str]
    match_id: str | None = None
    #: ``MatchDistance``, when the service gives one (smaller is closer).
    distance: int | None = None


@dataclass(frozen=True)
class MatchResult:
    """A verdict-grade answer: exists only for Status 3000 with a readable ``IsMatch``.

    ``attempts`` counts the HTTP calls made for it, retries included; ``api_seconds`` is the
    time spent in those calls, without the waits between them; ``quota_seconds`` the time spent
    waiting for the rate limiter's tokens (what the rescan lane's priority bounds).
    """

    is_match: bool
    flags: list[MatchFlag]
    tracking_id: str
    status_code: int
    status_description: str
    attempts: int
    api_seconds: float
    quota_seconds: float = 0.0
    #: ``photodna`` for a first-hand answer; the quota savers (streams/savers) set the others.
    answered_by: str = "photodna"
    #: For a cache hit: the first-hand answer it repeats.
    reused_answer: ReusedAnswer | None = None
    #: Local hash bank entries that matched the bytes (a match even without PhotoDNA's).
    bank_matches: tuple[BankMatch, ...] = ()


# -- Report ------------------------------------------------------------------------------------


def format_incident_time(moment: datetime) -> str:
    """The API's ``M/D/YYYY h:mm:ss AM`` form, in UTC (naive times are taken as UTC)."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    hour = utc.hour % 12 or 12
    meridiem = "AM" if utc.hour < 12 else "PM"
    return f"{utc.month}/{utc.day}/{utc.year} {hour}:{utc.minute:02d}:{utc.second:02d} {meridiem}"


class _ReportPart(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_pascal, populate_by_name=True, frozen=True, extra="forbid"
    )


class MetadataItem(_ReportPart):
    key: str
    value: str


class Location(_ReportPart):
    latitude: float
    longitude: float
    altitude: float | None = None


class ViolationContent(_ReportPart):
    """One reported image; ``value`` is the image itself (sent base64, never in a repr)."""

    name: str
    value: bytes = Field(repr=False)
    location: Location | None = None
    upload_ip_address: str | None = Field(None, alias="UploadIpAddress")
    upload_date_time: datetime | None = None
    additional_metadata: list[MetadataItem] = Field(default_factory=list)

    @field_serializer("value")
    def _base64(self, value: bytes) -> str:
        return base64.b64encode(value).decode("ascii")

    @field_serializer("upload_date_time")
    def _api_time(self, value: datetime | None) -> str | None:
        return None if value is None else format_incident_time(value)


class ReportRequest(_ReportPart):
    """The body of POST /Report: who reports, about whom, and the images."""

    org_name: str
    reporter_name: str
    reporter_email: str
    incident_time: datetime
    reportee_name: str
    reportee_ip_address: str = Field(alias="ReporteeIPAddress")
    violation_content_collection: list[ViolationContent] = Field(min_length=1)
    additional_metadata: list[MetadataItem] = Field(default_factory=list)

    @field_serializer("incident_time")
    def _api_time(self, value: datetime) -> str:
        return format_incident_time(value)

    def to_body(self, *, is_test: bool) -> dict[str, Any]:
        """The JSON body; ``is_test`` adds ``IsTest`` so NCMEC's test tipline gets it."""
        body = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if is_test:
            metadata = [item for item in body["AdditionalMetadata"] if item["Key"] != "IsTest"]
            body["AdditionalMetadata"] = [*metadata, {"Key": "IsTest", "Value": "true"}]
        return body


@dataclass(frozen=True)
class ReportResult:
    """The answer to a report, read from ``{"Status": {...}, "TrackingId", "ReportId"}``.

    The public reference says little about it: like Match, it carries a ``Status`` object (only
    Code 3000 becomes a result) and a ``TrackingId``; ``ReportId`` is what the simulator and,
    we assume, the service return to identify the filed report, and may be absent.
    """

    status_code: int
    status_description: str
    tracking_id: str
    report_id: str | None
    attempts: int
    api_seconds: float
