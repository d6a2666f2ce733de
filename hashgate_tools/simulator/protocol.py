"""The PhotoDNA wire format as the simulator speaks it: status codes, bodies, tracking ids.

Refused images get ``IsMatch: false`` next to their error Status, like a service whose response
type always carries the boolean: a client that reads ``IsMatch`` before ``Status.Code`` would turn
a refusal into a ``clear``, and tests against the simulator should catch that.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

#: The middle part of real TrackingIds is constant per API operation; ours is made up.
_OPERATION_ID = "5f1e0c2a9b3d4e6f7a8b9c0d"
_REGION = "SIM"


class StatusCode(IntEnum):
    OK = 3000
    INVALID_PARAMETER = 3002
    UNHANDLED_ERROR = 3004
    NOT_AN_IMAGE = 3206
    IMAGE_SIZE_OUT_OF_RANGE = 3208
    REQUEST_TOO_LARGE = 3209


DESCRIPTIONS: dict[StatusCode, str] = {
    StatusCode.OK: "OK",
    StatusCode.INVALID_PARAMETER: "Invalid or missing request parameter(s)",
    StatusCode.UNHANDLED_ERROR: "Unknown scenario or unhandled error occurred while processing",
    StatusCode.NOT_AN_IMAGE: "The file could not be verified as an image",
    StatusCode.IMAGE_SIZE_OUT_OF_RANGE: "Image size in pixels or bytes is not within range",
    StatusCode.REQUEST_TOO_LARGE: "Request size exceeded",
}

GATEWAY_MESSAGES: dict[int, str] = {
    401: "Access denied due to invalid subscription key. "
    "Make sure to provide a valid key for an active subscription.",
    404: "Resource not found",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}
MISSING_KEY_MESSAGE = (
    "Access denied due to missing subscription key. "
    "Make sure to include subscription key when making requests to an API."
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An HTTP 200 answer whose Status says the request cannot be served as sent."""

    code: StatusCode
    detail: str


@dataclass(frozen=True, slots=True)
class MatchFlag:
    match_id: str
    source: str
    violations: tuple[str, ...]
    distance: int


def new_tracking_id() -> str:
    return f"{_REGION}_{uuid.uuid4().hex}_{_OPERATION_ID}_{uuid.uuid4().hex}"


def status(code: StatusCode, detail: str | None = None) -> dict[str, Any]:
    return {"Code": int(code), "Description": DESCRIPTIONS[code], "Exception": detail}


def match_body(flags: list[MatchFlag], tracking_id: str) -> dict[str, Any]:
    return {
        "Status": status(StatusCode.OK),
        "ContentId": None,
        "IsMatch": bool(flags),
        "MatchDetails": {
            "AdvancedInfo": [],
            "MatchFlags": [
                {
                    "AdvancedInfo": [{"Key": "MatchId", "Value": flag.match_id}],
                    "Source": flag.source,
                    "Violations": list(flag.violations),
                    "MatchDistance": flag.distance,
                }
                for flag in flags
            ],
        },
        "XPartnerCustomerId": None,
        "TrackingId": tracking_id,
        "EvaluateResponse": None,
    }


def refusal_body(refusal: Refusal, tracking_id: str) -> dict[str, Any]:
    return {
        "Status": status(refusal.code, refusal.detail),
        "ContentId": None,
        "IsMatch": False,
        "MatchDetails": None,
        "XPartnerCustomerId": None,
        "TrackingId": tracking_id,
        "EvaluateResponse": None,
    }


#: The undocumented Status code of the ``unknown_status`` image fault.
UNDOCUMENTED_STATUS = 3999


def unknown_status_body(tracking_id: str) -> dict[str, Any]:
    return {
        "Status": {"Code": UNDOCUMENTED_STATUS, "Description": "Undocumented", "Exception": None},
        "IsMatch": False,
        "TrackingId": tracking_id,
    }


def no_status_body(tracking_id: str) -> dict[str, Any]:
    return {"IsMatch": False, "MatchDetails": None, "TrackingId": tracking_id}


def report_body(report_id: str, tracking_id: str) -> dict[str, Any]:
    """Accepted report. The reference does not publish this shape; it is our best guess."""
    return {"Status": status(StatusCode.OK), "ReportId": report_id, "TrackingId": tracking_id}


def report_refusal_body(refusal: Refusal, tracking_id: str) -> dict[str, Any]:
    return {"Status": status(refusal.code, refusal.detail), "TrackingId": tracking_id}


def gateway_error(status_code: int, message: str | None = None) -> dict[str, Any]:
    return {"statusCode": status_code, "message": message or GATEWAY_MESSAGES[status_code]}


def rate_limit_message(retry_after_s: int) -> str:
    return f"Rate limit is exceeded. Try again in {retry_after_s} seconds."
