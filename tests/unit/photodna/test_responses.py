"""Every documented Status code with ``IsMatch`` true and false: only 3000 is ever a result.

A service that says Status 3004 or 3206 and also ``IsMatch: false`` has not cleared the image;
the reader must raise the code's own error whatever ``IsMatch`` says.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from streams.errors import (
    AuthenticationError,
    ReasonCode,
    RejectedByPhotoDNA,
    TransientError,
    UnknownStatusError,
)
from streams.photodna.responses import (
    ServiceStatus,
    parse_retry_after,
    raise_for_http,
    read_match,
    read_report,
    status_label,
)

pytestmark = pytest.mark.unit

TRACKING = "WUS_418b5903425346a1b1451821c5cd06ee"
FLAG = {"AdvancedInfo": [{"Key": "MatchId", "Value": "104149"}], "Source": "Test"}


def answer(code: int, *, is_match: Any, http: int = 200, **fields: Any) -> httpx.Response:
    body = {
        "Status": {"Code": code, "Description": "described", "Exception": None},
        "IsMatch": is_match,
        "MatchDetails": {"AdvancedInfo": [], "MatchFlags": []},
        "TrackingId": TRACKING,
        **fields,
    }
    return httpx.Response(http, json=body)


@pytest.mark.parametrize("is_match", [True, False])
def test_status_3000_is_the_answer_isMatch_gives(is_match: bool) -> None:
    matched, flags, status = read_match(answer(3000, is_match=is_match))

    assert matched is is_match and flags == []
    assert (status.code, status.tracking_id) == (3000, TRACKING)


@pytest.mark.parametrize("is_match", [True, False])
@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (3002, ReasonCode.INVALID_REQUEST),
        (3206, ReasonCode.NOT_AN_IMAGE),
        (3208, ReasonCode.IMAGE_SIZE_OUT_OF_RANGE),
        (3209, ReasonCode.REQUEST_TOO_LARGE),
    ],
)
@pytest.mark.parametrize("http", [200, 400])
def test_permanent_codes_are_rejections_whatever_isMatch_says(
    code: int, reason: ReasonCode, is_match: bool, http: int
) -> None:
    with pytest.raises(RejectedByPhotoDNA) as raised:
        read_match(answer(code, is_match=is_match, http=http))

    assert raised.value.reason is reason and raised.value.status_code == code
    assert f"Status {code}" in str(raised.value) and TRACKING in str(raised.value)


@pytest.mark.parametrize("is_match", [True, False])
def test_3004_is_a_transient_service_error_whatever_isMatch_says(is_match: bool) -> None:
    with pytest.raises(TransientError) as raised:
        read_match(answer(3004, is_match=is_match))

    assert type(raised.value) is TransientError  # documented: retried, not "unknown"
    assert "Status 3004" in str(raised.value) and "unhandled" in str(raised.value)


@pytest.mark.parametrize("is_match", [True, False])
@pytest.mark.parametrize("code", [2999, 3001, 3003, 3005, 3100, 3207, 3210, 4000])
def test_undocumented_codes_are_unknown_whatever_isMatch_says(code: int, is_match: bool) -> None:
    with pytest.raises(UnknownStatusError) as raised:
        read_match(answer(code, is_match=is_match))

    assert raised.value.status_code == code and "undocumented" in str(raised.value)


@pytest.mark.parametrize("is_match", [None, 0, 1, "false", "true"])
def test_isMatch_that_is_not_a_boolean_is_transient(is_match: Any) -> None:
    with pytest.raises(TransientError, match="not a boolean"):
        read_match(answer(3000, is_match=is_match))


def test_an_ok_answer_without_tracking_id_is_transient() -> None:
    with pytest.raises(TransientError, match="no TrackingId"):
        read_match(answer(3000, is_match=False, TrackingId=None))


def test_flags_make_a_match_and_unreadable_flags_never_clear() -> None:
    matched, flags, _ = read_match(
        answer(3000, is_match=False, MatchDetails={"MatchFlags": [FLAG]})
    )
    assert matched and flags[0].match_id == "104149" and flags[0].source == "Test"

    with pytest.raises(TransientError, match="cannot be ruled out"):
        read_match(answer(3000, is_match=False, MatchDetails={"MatchFlags": ["junk"]}))
    matched, flags, _ = read_match(answer(3000, is_match=True, MatchDetails={"MatchFlags": "junk"}))
    assert matched and flags == []


@pytest.mark.parametrize(
    "body",
    [b"<html>busy</html>", b"[]", b'{"Status": "OK"}', b'{"Status": {"Code": "3000"}}'],
)
def test_unreadable_2xx_answers_are_transient(body: bytes) -> None:
    with pytest.raises(TransientError) as raised:
        read_match(httpx.Response(200, content=body))
    assert type(raised.value) is TransientError


def test_a_status_code_that_is_a_boolean_is_unreadable() -> None:
    with pytest.raises(TransientError, match=r"no readable Status\.Code"):
        read_match(httpx.Response(200, json={"Status": {"Code": True}, "IsMatch": False}))


def test_report_needs_status_3000_and_a_tracking_id() -> None:
    report_id, status = read_report(answer(3000, is_match=None, ReportId=77))
    assert (report_id, status.code) == ("77", 3000)
    assert read_report(answer(3000, is_match=None))[0] is None
    with pytest.raises(TransientError, match="no TrackingId"):
        read_report(answer(3000, is_match=None, TrackingId=""))
    with pytest.raises(TransientError):
        read_report(answer(3004, is_match=None))


@pytest.mark.parametrize(
    ("response", "label"),
    [
        (answer(3004, is_match=False), "3004"),
        (answer(3206, is_match=False, http=400), "3206"),
        (httpx.Response(200, content=b"<html/>"), "unreadable"),
        (httpx.Response(502, content=b"<html/>"), "http_502"),
    ],
)
def test_answers_are_labelled_by_status_code_else_http_status(
    response: httpx.Response, label: str
) -> None:
    assert status_label(response) == label


def test_a_match_id_is_read_from_its_own_key_only() -> None:
    info = [
        {"Key": "Alpha", "Value": "not-it"},
        {"Key": "Zeta", "Value": "not-it"},
        {"Key": "MatchId", "Value": "104149"},
    ]
    flag = {"Source": "Test", "Violations": ["A1"], "AdvancedInfo": info}

    _, [read], _ = read_match(answer(3000, is_match=True, MatchDetails={"MatchFlags": [flag]}))

    assert read.match_id == "104149"


@pytest.mark.parametrize(("length", "quoted"), [(200, 200), (201, 200), (450, 200)])
def test_service_text_is_quoted_up_to_200_characters(length: int, quoted: int) -> None:
    text = "x" * length
    status = ServiceStatus(3004, text, None)

    said = status.describe("Match").split("(", 1)[1].rstrip(")")

    assert len(said) == quoted
    assert said == text if length <= 200 else said == "x" * 199 + "…"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"message": "Access denied due to invalid subscription key."}, True),
        ({"message": ""}, False),
        ({"message": 401}, False),
        (["message"], False),
    ],
)
def test_a_refused_key_quotes_the_gateways_message_when_it_has_one(
    body: object, said: bool
) -> None:
    with pytest.raises(AuthenticationError) as raised:
        raise_for_http(httpx.Response(401, json=body), "Match")

    expected = "PhotoDNA Match: HTTP 401: the subscription key was refused"
    if said:
        expected += ": Access denied due to invalid subscription key."
    assert str(raised.value) == expected


@pytest.mark.parametrize("source", [5, "", None])
def test_a_flag_without_a_readable_source_is_from_an_unknown_list(source: object) -> None:
    flag = {"Source": source, "Violations": ["A1"]}

    _, [read], _ = read_match(answer(3000, is_match=True, MatchDetails={"MatchFlags": [flag]}))

    assert read.source == "unknown"


@pytest.mark.parametrize(
    "flag",
    [
        {"Source": "Test", "Violations": "A1", "AdvancedInfo": []},
        {"Source": "Test", "Violations": ["A1"], "AdvancedInfo": {"MatchId": "1"}},
    ],
)
def test_a_flag_with_unreadable_parts_never_clears(flag: dict[str, Any]) -> None:
    with pytest.raises(TransientError, match="cannot be ruled out"):
        read_match(answer(3000, is_match=False, MatchDetails={"MatchFlags": [flag]}))


@pytest.mark.parametrize("http", [500, 502, 503, 504, 408, 302])
def test_server_errors_timeouts_and_odd_statuses_are_transient(http: int) -> None:
    with pytest.raises(TransientError) as raised:
        raise_for_http(httpx.Response(http, json={"message": "busy"}), "Match")

    assert type(raised.value) is TransientError
    assert str(raised.value) == f"PhotoDNA Match: HTTP {http}: busy"


def test_a_retry_after_date_without_a_zone_is_read_as_utc() -> None:
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)

    assert parse_retry_after("Wed, 21 Oct 2026 07:28:10 -0000", now=now) == 10
    assert parse_retry_after("Wed, 21 Oct 2026 07:28:10 GMT", now=now) == 10
