"""Reading PhotoDNA's answers: every HTTP status and ``Status.Code`` maps to a result or an error.

Fail-closed: only an answer we fully understand becomes a result. A Status 3000 whose
``IsMatch`` is missing or not a boolean, or a body that is not JSON, is service-side garbage and
raises TransientError; it never reads as "no match". Codes we do not know raise
UnknownStatusError, a transient error: the answer is retried and, at worst, ends in the DLQ with
a reason of its own, never in a ``clear``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from streams.errors import (
    AuthenticationError,
    ConfigurationError,
    RateLimitedError,
    ReasonCode,
    RejectedByPhotoDNA,
    TransientError,
    UnknownStatusError,
)
from streams.photodna.models import MatchFlag

STATUS_OK = 3000
STATUS_UNHANDLED = 3004

#: Status codes that mean "this request will never succeed as it is".
PERMANENT_STATUS: dict[int, ReasonCode] = {
    3002: ReasonCode.INVALID_REQUEST,
    3206: ReasonCode.NOT_AN_IMAGE,
    3208: ReasonCode.IMAGE_SIZE_OUT_OF_RANGE,
    3209: ReasonCode.REQUEST_TOO_LARGE,
}

#: Longest piece of server-supplied text quoted in an error message.
_QUOTE_CHARS = 200


@dataclass(frozen=True)  # pragma: no mutate (nothing writes to a status)
class ServiceStatus:
    """The ``Status`` object and ``TrackingId`` of a readable answer."""

    code: int
    description: str
    tracking_id: str | None
    exception: str = ""

    def describe(self, operation: str) -> str:
        """Code, description, the service's ``Exception`` detail and TrackingId, for DLQ detail."""
        text = f"PhotoDNA {operation}: Status {self.code}"
        said = ": ".join(_quote(part) for part in (self.description, self.exception) if part)
        if said:
            text += f" ({said})"
        if self.tracking_id:
            text += f", TrackingId {self.tracking_id}"
        return text


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 1] + "…"


def parse_retry_after(
    value: str | None,
    *,  # pragma: no mutate (callers pass value by position)
    now: datetime | None = None,
) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _gateway_message(response: httpx.Response) -> str:
    """The gateway's ``message`` (e.g. why a key was refused), if the body has one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return f": {_quote(message)}" if isinstance(message, str) and message else ""


def _read_json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _status_of(body: dict[str, Any]) -> ServiceStatus | None:
    status = body.get("Status")
    if not isinstance(status, dict):
        return None
    code = status.get("Code")
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    description = status.get("Description")
    exception = status.get("Exception")
    tracking_id = body.get("TrackingId")
    return ServiceStatus(
        code=code,
        description=description if isinstance(description, str) else "",
        tracking_id=tracking_id if isinstance(tracking_id, str) and tracking_id else None,
        exception=exception if isinstance(exception, str) else "",
    )


def raise_for_http(response: httpx.Response, operation: str) -> None:
    """Errors the HTTP status alone decides; returns for a 2xx, whose body says the rest."""
    code = response.status_code
    if response.is_success:
        return
    where = f"PhotoDNA {operation}: HTTP {code}"
    if code in (401, 403):
        raise AuthenticationError(
            f"{where}: the subscription key was refused{_gateway_message(response)}",
            status_code=code,
        )
    if code == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RateLimitedError(f"{where}: over quota", retry_after=retry_after)
    if code == 408 or not response.is_client_error:  # 5xx, and anything else unexpected
        raise TransientError(f"{where}{_gateway_message(response)}")
    if code in (404, 405):
        raise ConfigurationError(
            f"{where}: no such API operation; check HASHGATE_PHOTODNA__ENDPOINT"
        )
    body = _read_json(response)
    status = _status_of(body) if body is not None else None
    if status is not None and status.code in PERMANENT_STATUS:
        raise RejectedByPhotoDNA(
            f"{where}, {status.describe(operation)}",
            reason=PERMANENT_STATUS[status.code],
            status_code=status.code,
        )
    reason = ReasonCode.REQUEST_TOO_LARGE if code == 413 else ReasonCode.INVALID_REQUEST
    raise RejectedByPhotoDNA(
        f"{where}{_gateway_message(response)}", reason=reason, status_code=code
    )


def read_ok_answer(
    response: httpx.Response, operation: str
) -> tuple[dict[str, Any], ServiceStatus]:
    """The body and status of a Status 3000 answer; any other answer raises."""
    raise_for_http(response, operation)
    body = _read_json(response)
    if body is None:
        raise TransientError(
            f"PhotoDNA {operation}: HTTP {response.status_code}, body is not a JSON object"
        )
    status = _status_of(body)
    if status is None:
        raise TransientError(f"PhotoDNA {operation}: answer has no readable Status.Code")
    if status.code == STATUS_OK:
        return body, status
    if status.code in PERMANENT_STATUS:
        raise RejectedByPhotoDNA(
            status.describe(operation),
            reason=PERMANENT_STATUS[status.code],
            status_code=status.code,
        )
    if status.code == STATUS_UNHANDLED:
        raise TransientError(f"{status.describe(operation)}: unhandled service error")
    raise UnknownStatusError(
        f"{status.describe(operation)}: undocumented Status code", status_code=status.code
    )


def status_label(response: httpx.Response) -> str:
    """How an answer is counted in metrics: its Status code, else ``http_<code>`` or
    ``unreadable`` (a 2xx without a readable Status, such as an HTML page)."""
    body = _read_json(response)
    status = _status_of(body) if body is not None else None
    if status is not None:
        return str(status.code)
    return "unreadable" if response.is_success else f"http_{response.status_code}"


def _parse_flag(raw: Any) -> MatchFlag | None:
    if not isinstance(raw, dict):
        return None
    violations = raw.get("Violations") or []
    info = raw.get("AdvancedInfo") or []
    if not isinstance(violations, list) or not isinstance(info, list):
        return None
    match_id = next(
        (
            str(item.get("Value"))
            for item in info
            if isinstance(item, dict) and item.get("Key") == "MatchId" and item.get("Value")
        ),
        None,
    )
    source = raw.get("Source")
    distance = raw.get("MatchDistance")
    return MatchFlag(
        source=source if isinstance(source, str) and source else "unknown",
        violations=[str(v) for v in violations],
        match_id=match_id,
        # A distance that is not a whole number is left out, never a reason to doubt the match.
        distance=distance if type(distance) is int and distance >= 0 else None,
    )


def parse_match_flags(body: dict[str, Any]) -> list[MatchFlag] | None:
    """The match flags, ``[]`` when there are none, or None when they cannot be read."""
    details = body.get("MatchDetails")
    if details is None:
        return []
    if not isinstance(details, dict):
        return None
    raw_flags = details.get("MatchFlags")
    if raw_flags is None:
        return []
    if not isinstance(raw_flags, list):
        return None
    flags = [_parse_flag(raw) for raw in raw_flags]
    return None if any(flag is None for flag in flags) else [f for f in flags if f is not None]


def read_match(response: httpx.Response) -> tuple[bool, list[MatchFlag], ServiceStatus]:
    """``(is_match, flags, status)`` of a Match answer; anything doubtful raises, never clears."""
    body, status = read_ok_answer(response, "Match")
    is_match = body.get("IsMatch")
    if not isinstance(is_match, bool):
        raise TransientError(
            f"{status.describe('Match')}: IsMatch is {type(is_match).__name__}, not a boolean"
        )
    if status.tracking_id is None:
        raise TransientError(f"{status.describe('Match')}: answer has no TrackingId")
    flags = parse_match_flags(body)
    if flags is None:
        if not is_match:
            raise TransientError(
                f"{status.describe('Match')}: MatchDetails unreadable, a match cannot be ruled out"
            )
        flags = []
    return is_match or bool(flags), flags, status


def read_report(response: httpx.Response) -> tuple[str | None, ServiceStatus]:
    """``(report_id, status)`` of a Report answer."""
    body, status = read_ok_answer(response, "Report")
    if status.tracking_id is None:
        raise TransientError(f"{status.describe('Report')}: answer has no TrackingId")
    report_id = body.get("ReportId")
    return (None if report_id is None else str(report_id)), status
