"""One exception root, so callers can tell whose fault a failure is and what to do about it.

    HashgateError
    ├── ConfigurationError          the operator's to fix: stop the worker loudly, ack nothing
    │   ├── AuthenticationError     PhotoDNA said 401/403: the subscription key is wrong
    │   └── KafkaAccessError        the broker refused our TLS trust or SASL login
    ├── TransientError              try again later: timeouts, 5xx, 429, Status 3004
    │   ├── RateLimitedError        429, with the Retry-After the gateway asked for
    │   ├── CircuitOpenError        the breaker is open; nothing was sent
    │   ├── UnknownStatusError      a Status code PhotoDNA does not document: never a verdict
    │   └── BackpressureError       a downstream sink cannot take the event yet: wait, retry it
    └── PermanentError              this event can never succeed as it is: DLQ with a reason
        ├── EventDecodeError        the record's bytes are not a valid event
        ├── MediaError              the image could not be fetched or is not a usable image
        └── RejectedByPhotoDNA      Status 3002, 3206, 3208 or 3209

Every PermanentError carries a ``reason`` from the closed ``ReasonCode`` enum that becomes the
DLQ record's reason; messages never contain the subscription key or image bytes.
"""

from __future__ import annotations

from enum import StrEnum

#: Exit codes of every hashgate process (sysexits.h): the runbook's table lists them.
EX_UNAVAILABLE = 69  # an operator command found no Kafka broker answering at its bootstrap
EX_SOFTWARE = 70  # a fatal error that is not the operator's to fix: a bug, an unknown failure
EX_CONFIG = 78  # a configuration error: invalid setting, topic set-up refused, port in use, key


class ReasonCode(StrEnum):
    """Why a record is in the DLQ. Closed: consumers and dashboards switch on these values."""

    UNDECODABLE = "undecodable"  # not UTF-8 JSON at all
    INVALID_EVENT = "invalid_event"  # JSON, but a field is missing or malformed
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    INVALID_REQUEST = "invalid_request"  # PhotoDNA 3002
    NOT_AN_IMAGE = "not_an_image"  # PhotoDNA 3206, or our own sniffing
    IMAGE_SIZE_OUT_OF_RANGE = "image_size_out_of_range"  # PhotoDNA 3208, or our own check
    REQUEST_TOO_LARGE = "request_too_large"  # PhotoDNA 3209
    MEDIA_UNREACHABLE = "media_unreachable"  # bytes mode: download failed
    MEDIA_FORBIDDEN_ADDRESS = "media_forbidden_address"  # bytes mode: SSRF guard refused it
    RETRIES_EXHAUSTED = "retries_exhausted"  # transient failures of one event outlived retries
    UNKNOWN_STATUS = "unknown_status"  # PhotoDNA kept answering an undocumented Status code
    REPLAY_LIMIT_REACHED = "replay_limit_reached"  # replayed from the DLQ too often


#: Reasons for which re-running the same record later may succeed.
REPLAYABLE_REASONS: frozenset[ReasonCode] = frozenset(
    {ReasonCode.MEDIA_UNREACHABLE, ReasonCode.RETRIES_EXHAUSTED, ReasonCode.UNKNOWN_STATUS}
)


class HashgateError(Exception):
    """Root of every error hashgate raises on purpose."""


class ConfigurationError(HashgateError):
    """A setting or credential is wrong; no event can succeed until an operator fixes it."""


class AuthenticationError(ConfigurationError):
    """PhotoDNA refused the subscription key (HTTP 401/403)."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class KafkaAccessError(ConfigurationError):
    """The broker's certificate is not trusted, or it refused the SASL login: found at start."""


class TransientError(HashgateError):
    """The call may succeed if tried again later."""


class RateLimitedError(TransientError):
    """Over quota (HTTP 429); ``retry_after`` is the wait the gateway asked for, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CircuitOpenError(TransientError):
    """The circuit breaker is open, so the call was not attempted."""


class UnknownStatusError(TransientError):
    """PhotoDNA answered a ``Status.Code`` its reference does not document.

    Retried like any transient failure (it may be a passing service fault), never read as a
    verdict; once an event's retries are spent it goes to the DLQ as ``unknown_status``.
    """

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class BackpressureError(TransientError):
    """A downstream sink cannot handle the event now; the agent holds it (unacked) and hands it
    over again after ``retry_after`` seconds, so a slow or failing service delays, never skips.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(HashgateError):
    """This event cannot succeed as it is; it belongs in the DLQ with ``reason``."""

    def __init__(self, message: str, *, reason: ReasonCode) -> None:
        super().__init__(message)
        self.reason = reason


class EventDecodeError(PermanentError):
    """The record is not a valid event; ``field`` names the first offending field, if any."""

    def __init__(self, message: str, *, reason: ReasonCode, field: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.field = field


class MediaError(PermanentError):
    """The image could not be fetched, or is not an image PhotoDNA accepts."""


class RejectedByPhotoDNA(PermanentError):
    """PhotoDNA answered with a Status code that means this request will never succeed."""

    def __init__(self, message: str, *, reason: ReasonCode, status_code: int) -> None:
        super().__init__(message, reason=reason)
        self.status_code = status_code
