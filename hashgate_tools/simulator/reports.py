"""Checking a /Report call the way the service would, and keeping only what tests may see.

Missing NCMEC credentials (``x-usr``/``x-pwd``) or a missing required field is answered with
Status 3002. What is kept of an accepted or refused report is the body without the images'
bytes (their decoded size stays) and whether each credential header was present.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from hashgate_tools.simulator.protocol import Refusal, StatusCode

REQUIRED_FIELDS = (
    "OrgName",
    "ReporterName",
    "ReporterEmail",
    "IncidentTime",
    "ReporteeName",
    "ReporteeIPAddress",
    "ViolationContentCollection",
)


@dataclass(frozen=True, slots=True)
class ReviewedReport:
    refusal: Refusal | None
    redacted_body: dict[str, Any]
    is_test: bool


def _invalid(detail: str) -> Refusal:
    return Refusal(StatusCode.INVALID_PARAMETER, detail)


def _is_test(metadata: object) -> bool:
    """``AdditionalMetadata`` is seen both as a Key/Value list and as a plain object."""
    if isinstance(metadata, dict):
        value = metadata.get("IsTest")
    elif isinstance(metadata, list):
        value = next(
            (m.get("Value") for m in metadata if isinstance(m, dict) and m.get("Key") == "IsTest"),
            None,
        )
    else:
        return False
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _redact_item(item: object) -> tuple[dict[str, Any], Refusal | None]:
    if not isinstance(item, dict):
        return {}, _invalid("ViolationContentCollection items must be objects")
    redacted = {k: v for k, v in item.items() if k != "Value"}
    value = item.get("Value")
    if not item.get("Name") or not isinstance(value, str) or not value:
        return redacted, _invalid("each violation needs Name and Value")
    try:
        redacted["ValueBytes"] = len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return redacted, _invalid("violation Value is not valid base64")
    return redacted, None


def review_report(body: bytes, *, has_x_usr: bool, has_x_pwd: bool) -> ReviewedReport:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ReviewedReport(_invalid("the body is not valid JSON"), {}, is_test=False)
    if not isinstance(document, dict):
        return ReviewedReport(_invalid("the body must be a JSON object"), {}, is_test=False)

    refusals: list[Refusal] = []
    redacted = {k: v for k, v in document.items() if k != "ViolationContentCollection"}
    violations = document.get("ViolationContentCollection")
    if isinstance(violations, list):
        items = [_redact_item(item) for item in violations]
        redacted["ViolationContentCollection"] = [item for item, _ in items]
        refusals.extend(refusal for _, refusal in items if refusal is not None)
    if not has_x_usr or not has_x_pwd:
        refusals.insert(0, _invalid("x-usr and x-pwd (NCMEC credentials) are required"))
    missing = [name for name in REQUIRED_FIELDS if not document.get(name)]
    if missing:
        refusals.insert(0, _invalid("missing fields: " + ", ".join(missing)))
    elif not isinstance(violations, list):
        refusals.insert(0, _invalid("ViolationContentCollection must be a list"))
    return ReviewedReport(
        refusals[0] if refusals else None,
        redacted,
        is_test=_is_test(document.get("AdditionalMetadata")),
    )
