"""PhotoDNA: the raw Cloud Service client, its quota and outage handling, and the Matcher seam."""

from streams.photodna.api import PhotoDNAClient
from streams.photodna.breaker import BreakerState, CircuitBreaker
from streams.photodna.canary import Canary
from streams.photodna.matcher import Matcher, MediaRef, PhotoDNAMatcher
from streams.photodna.models import (
    SUPPORTED_CONTENT_TYPES,
    ImageBytes,
    ImageInput,
    ImageUrl,
    InlineImage,
    Location,
    MatchFlag,
    MatchResult,
    MetadataItem,
    ReportRequest,
    ReportResult,
    ViolationContent,
    format_incident_time,
)
from streams.photodna.ratelimit import Lane, RateLimiter
from streams.photodna.responses import PERMANENT_STATUS, parse_retry_after
from streams.photodna.retry import RetryPolicy

__all__ = [
    "PERMANENT_STATUS",
    "SUPPORTED_CONTENT_TYPES",
    "BreakerState",
    "Canary",
    "CircuitBreaker",
    "ImageBytes",
    "ImageInput",
    "ImageUrl",
    "InlineImage",
    "Lane",
    "Location",
    "MatchFlag",
    "MatchResult",
    "Matcher",
    "MediaRef",
    "MetadataItem",
    "PhotoDNAClient",
    "PhotoDNAMatcher",
    "RateLimiter",
    "ReportRequest",
    "ReportResult",
    "RetryPolicy",
    "ViolationContent",
    "format_incident_time",
    "parse_retry_after",
]
