"""POST /Report: the body PhotoDNA forwards to NCMEC, its headers, and its answer."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from pydantic import SecretStr

from streams.errors import HashgateError, ReasonCode, RejectedByPhotoDNA
from streams.photodna import (
    Location,
    MetadataItem,
    PhotoDNAClient,
    ReportRequest,
    RetryPolicy,
    ViolationContent,
    format_incident_time,
)

pytestmark = pytest.mark.unit

KEY = SecretStr("report-subscription-key-abcdef")
PASSWORD = SecretStr("ncmec-PASSWORD-42")
IMAGE = b"\xff\xd8\xff\xe0 pretend jpeg"


def report_request() -> ReportRequest:
    return ReportRequest(
        org_name="Example Platform",
        reporter_name="T&S Team",
        reporter_email="tns@example.com",
        incident_time=datetime(2014, 9, 10, 21, 8, 14, tzinfo=UTC),
        reportee_name="user-123",
        reportee_ip_address="203.0.113.7",
        violation_content_collection=[
            ViolationContent(
                name="upload-1.jpg",
                value=IMAGE,
                location=Location(latitude=47.6, longitude=-122.3),
                upload_ip_address="203.0.113.7",
                upload_date_time=datetime(2014, 9, 10, 8, 5, 0, tzinfo=UTC),
                additional_metadata=[MetadataItem(key="ContentId", value="c-1")],
            )
        ],
    )


class Server:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.response


async def noop_sleep(_seconds: float) -> None:
    return None


def client_for(server: Server) -> PhotoDNAClient:
    return PhotoDNAClient(
        endpoint="https://photodna.test/photodna/v1.0",
        subscription_key=KEY,
        timeout=httpx.Timeout(5.0),
        max_connections=1,
        transport=httpx.MockTransport(server),
        retry=RetryPolicy(2, 0.1, 1.0, sleep=noop_sleep),
    )


REPORT_OK = {
    "Status": {"Code": 3000, "Description": "OK"},
    "TrackingId": "WUS_report_1",
    "ReportId": 8812,
}


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2014, 9, 10, 21, 8, 14, tzinfo=UTC), "9/10/2014 9:08:14 PM"),
        (datetime(2014, 9, 10, 0, 0, 5, tzinfo=UTC), "9/10/2014 12:00:05 AM"),
        (datetime(2014, 12, 1, 12, 30, 0, tzinfo=UTC), "12/1/2014 12:30:00 PM"),
        (datetime(2014, 1, 1, 11, 59, 59, tzinfo=UTC), "1/1/2014 11:59:59 AM"),
        (
            datetime(2014, 9, 10, 23, 0, 0, tzinfo=timezone(timedelta(hours=-2))),
            "9/11/2014 1:00:00 AM",
        ),
        (datetime(2014, 9, 10, 13, 0, 0), "9/10/2014 1:00:00 PM"),
    ],
)
def test_incident_time_format(moment: datetime, expected: str) -> None:
    assert format_incident_time(moment) == expected


async def test_report_request_shape() -> None:
    server = Server(httpx.Response(200, json=REPORT_OK))
    async with client_for(server) as client:
        await client.report(report_request(), ncmec_username="org-user", ncmec_password=PASSWORD)

    (request,) = server.requests
    assert str(request.url) == "https://photodna.test/photodna/v1.0/Report"
    assert request.headers["Ocp-Apim-Subscription-Key"] == KEY.get_secret_value()
    assert request.headers["x-usr"] == "org-user"
    assert request.headers["x-pwd"] == PASSWORD.get_secret_value()
    assert json.loads(request.content) == {
        "OrgName": "Example Platform",
        "ReporterName": "T&S Team",
        "ReporterEmail": "tns@example.com",
        "IncidentTime": "9/10/2014 9:08:14 PM",
        "ReporteeName": "user-123",
        "ReporteeIPAddress": "203.0.113.7",
        "ViolationContentCollection": [
            {
                "Name": "upload-1.jpg",
                "Value": base64.b64encode(IMAGE).decode(),
                "Location": {"Latitude": 47.6, "Longitude": -122.3},
                "UploadIpAddress": "203.0.113.7",
                "UploadDateTime": "9/10/2014 8:05:00 AM",
                "AdditionalMetadata": [{"Key": "ContentId", "Value": "c-1"}],
            }
        ],
        "AdditionalMetadata": [{"Key": "IsTest", "Value": "true"}],
    }


async def test_real_reports_carry_no_test_flag() -> None:
    server = Server(httpx.Response(200, json=REPORT_OK))
    request = report_request().model_copy(
        update={"additional_metadata": [MetadataItem(key="IsTest", value="true")]}
    )
    async with client_for(server) as client:
        await client.report(request, ncmec_username="u", ncmec_password=PASSWORD, is_test=False)
        await client.report(
            report_request(), ncmec_username="u", ncmec_password=PASSWORD, is_test=False
        )

    assert json.loads(server.requests[1].content)["AdditionalMetadata"] == []


async def test_report_result() -> None:
    async with client_for(Server(httpx.Response(200, json=REPORT_OK))) as client:
        result = await client.report(report_request(), ncmec_username="u", ncmec_password=PASSWORD)

    assert (result.status_code, result.tracking_id, result.report_id) == (
        3000,
        "WUS_report_1",
        "8812",
    )
    assert result.attempts == 1


async def test_report_uses_the_same_taxonomy() -> None:
    answer = {"Status": {"Code": 3002, "Description": "Missing ReporterEmail"}, "TrackingId": "T"}
    async with client_for(Server(httpx.Response(200, json=answer))) as client:
        with pytest.raises(RejectedByPhotoDNA) as caught:
            await client.report(report_request(), ncmec_username="u", ncmec_password=PASSWORD)

    assert caught.value.reason is ReasonCode.INVALID_REQUEST


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(401, json={"message": f"bad x-pwd {PASSWORD.get_secret_value()}"}),
        httpx.Response(
            200, json={"Status": {"Code": 3004, "Description": PASSWORD.get_secret_value()}}
        ),
        httpx.Response(200, json={"Status": {"Code": 3002, "Description": KEY.get_secret_value()}}),
    ],
)
async def test_password_and_key_never_leak(
    response: httpx.Response, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with client_for(Server(response)) as client:
        with pytest.raises(HashgateError) as caught:
            await client.report(report_request(), ncmec_username="u", ncmec_password=PASSWORD)

    for text in (str(caught.value), caplog.text):
        assert PASSWORD.get_secret_value() not in text
        assert KEY.get_secret_value() not in text


def test_report_models_hide_image_bytes_from_repr() -> None:
    text = repr(report_request())
    assert "pretend jpeg" not in text
    assert "upload-1.jpg" in text
