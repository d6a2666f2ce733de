"""The simulator over HTTP on loopback: every answer of the API and of the admin endpoints.

These drive it with plain httpx, to pin the wire format itself; the real client's handling of
the same answers is tested in tests/integration/test_photodna_client.py.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx
import pytest

from hashgate_tools.harness.images import (
    SIMULATOR_KEY,
    ImageServer,
    SampleImages,
    start_simulator,
)
from hashgate_tools.simulator import (
    FaultConfig,
    RunningSimulator,
    SimulatorAdmin,
    SimulatorAdminError,
    key_fingerprint,
)

pytest_plugins = ["tests.fixtures.simulator"]
pytestmark = pytest.mark.unit

TRACKING_ID = re.compile(r"^[A-Z]{3}_[0-9a-f]{32}_[0-9a-f]{24}_[0-9a-f]{32}$")
AUTH = {"Ocp-Apim-Subscription-Key": SIMULATOR_KEY}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


async def post_match(
    http: httpx.AsyncClient,
    sim: RunningSimulator,
    *,
    image: bytes | None = None,
    content_type: str = "image/png",
    document: Any = None,
    headers: dict[str, str] | None = None,
    enhance: str | None = "false",
) -> httpx.Response:
    params = {} if enhance is None else {"enhance": enhance}
    request_headers = dict(AUTH if headers is None else headers)
    if document is not None:
        return await http.post(
            f"{sim.base_url}/Match", params=params, json=document, headers=request_headers
        )
    request_headers["Content-Type"] = content_type
    return await http.post(
        f"{sim.base_url}/Match", params=params, content=image, headers=request_headers
    )


def status_code(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    code: int = response.json()["Status"]["Code"]
    return code


def inline(data: bytes) -> dict[str, str]:
    return {"DataRepresentation": "inline", "Value": base64.b64encode(data).decode()}


# -- matches and clears ---------------------------------------------------------------------------


async def test_known_image_is_a_match_in_the_service_format(
    http: httpx.AsyncClient, simulator: RunningSimulator, sample_images: SampleImages
) -> None:
    response = await post_match(http, simulator, image=sample_images.read(sample_images.known[0]))
    body = response.json()
    assert response.status_code == 200
    assert body["Status"] == {"Code": 3000, "Description": "OK", "Exception": None}
    assert body["IsMatch"] is True
    assert body["MatchDetails"]["MatchFlags"] == [
        {
            "AdvancedInfo": [{"Key": "MatchId", "Value": "100001"}],
            "Source": "Test",
            "Violations": ["A1"],
            "MatchDistance": 0,
        }
    ]
    assert TRACKING_ID.match(body["TrackingId"])
    for field in ("ContentId", "XPartnerCustomerId", "EvaluateResponse"):
        assert field in body


async def test_unknown_image_is_clear(
    http: httpx.AsyncClient, simulator: RunningSimulator, sample_images: SampleImages
) -> None:
    body = (
        await post_match(http, simulator, image=sample_images.read(sample_images.unknown[0]))
    ).json()
    assert body["Status"]["Code"] == 3000
    assert body["IsMatch"] is False
    assert body["MatchDetails"]["MatchFlags"] == []


async def test_every_answer_has_a_fresh_tracking_id(
    http: httpx.AsyncClient, simulator: RunningSimulator, sample_images: SampleImages
) -> None:
    image = sample_images.read(sample_images.known[1])
    ids = {(await post_match(http, simulator, image=image)).json()["TrackingId"] for _ in range(5)}
    assert len(ids) == 5


async def test_inline_json_body_and_degraded_copy_match(
    http: httpx.AsyncClient, simulator: RunningSimulator, sample_images: SampleImages
) -> None:
    degraded = sample_images.read(sample_images.degraded[3])
    body = (await post_match(http, simulator, document=inline(degraded))).json()
    assert body["IsMatch"] is True
    assert body["MatchDetails"]["MatchFlags"][0]["AdvancedInfo"][0]["Value"] == "100004"


@pytest.mark.parametrize("enhance", ["true", "True", "false", None])
async def test_enhance_is_optional_and_boolean(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    sample_images: SampleImages,
    enhance: str | None,
) -> None:
    image = sample_images.read(sample_images.known[0])
    assert status_code(await post_match(http, simulator, image=image, enhance=enhance)) == 3000


# -- URL mode: the simulator downloads the image itself -------------------------------------------


async def test_url_body_is_downloaded_and_matched(
    http: httpx.AsyncClient, simulator: RunningSimulator, image_server: ImageServer
) -> None:
    images = image_server.images
    document = {"DataRepresentation": "URL", "Value": image_server.url(images.degraded[2])}
    body = (await post_match(http, simulator, document=document)).json()
    assert body["IsMatch"] is True
    document["Value"] = image_server.url(images.unknown[1])
    assert (await post_match(http, simulator, document=document)).json()["IsMatch"] is False


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("missing-file", 3002),
        ("status-500", 3002),
        ("closed-port", 3002),
        ("ftp", 3002),
        ("relative", 3002),
        ("not-an-image", 3206),
        ("too-small", 3208),
    ],
)
async def test_url_failures(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    image_server: ImageServer,
    which: str,
    expected: int,
) -> None:
    images = image_server.images
    url = {
        "missing-file": image_server.url("no-such-file.png"),
        "status-500": image_server.status_url(500),
        "closed-port": f"http://127.0.0.1:{_closed_port()}/x.png",
        "ftp": "ftp://127.0.0.1/x.png",
        "relative": "/images/x.png",
        "not-an-image": image_server.url(images.not_an_image),
        "too-small": image_server.url(images.too_small),
    }[which]
    document = {"DataRepresentation": "URL", "Value": url}
    assert status_code(await post_match(http, simulator, document=document)) == expected


async def test_url_download_is_capped_at_the_image_limit(
    http: httpx.AsyncClient, image_server: ImageServer
) -> None:
    images = image_server.images
    size = len(images.read(images.known[0]))
    async with start_simulator(max_image_bytes=size - 1) as sim:
        document = {"DataRepresentation": "URL", "Value": image_server.url(images.known[0])}
        assert status_code(await post_match(http, sim, document=document)) == 3208


# -- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        [1, 2],
        {},
        {"DataRepresentation": "inline"},
        {"Value": "aGVsbG8="},
        {"DataRepresentation": "inline", "Value": ""},
        {"DataRepresentation": "inline", "Value": 42},
        {"DataRepresentation": "carrier-pigeon", "Value": "aGVsbG8="},
        {"DataRepresentation": "inline", "Value": "not base64 at all!"},
    ],
)
async def test_bad_json_bodies_are_3002(
    http: httpx.AsyncClient, simulator: RunningSimulator, document: Any
) -> None:
    response = await post_match(http, simulator, document=document)
    assert status_code(response) == 3002
    assert response.json()["IsMatch"] is False  # a refusal must never read as a clear
    assert TRACKING_ID.match(response.json()["TrackingId"])


async def test_unparseable_json_and_bad_parameters_are_3002(
    http: httpx.AsyncClient, simulator: RunningSimulator, sample_images: SampleImages
) -> None:
    image = sample_images.read(sample_images.known[0])
    assert (
        status_code(
            await post_match(http, simulator, image=b"{nope", content_type="application/json")
        )
        == 3002
    )
    assert (
        status_code(await post_match(http, simulator, image=image, content_type="text/plain"))
        == 3002
    )
    assert (
        status_code(await post_match(http, simulator, image=b"", content_type="image/png")) == 3002
    )
    assert status_code(await post_match(http, simulator, image=image, enhance="maybe")) == 3002


async def test_not_an_image_is_3206_whatever_the_content_type_claims(
    http: httpx.AsyncClient, simulator: RunningSimulator, sample_images: SampleImages
) -> None:
    data = sample_images.read(sample_images.not_an_image)
    assert (
        status_code(await post_match(http, simulator, image=data, content_type="image/jpeg"))
        == 3206
    )
    assert status_code(await post_match(http, simulator, document=inline(data))) == 3206


async def test_small_image_is_3208(
    http: httpx.AsyncClient, simulator: RunningSimulator, sample_images: SampleImages
) -> None:
    data = sample_images.read(sample_images.too_small)
    assert status_code(await post_match(http, simulator, image=data)) == 3208


async def test_image_over_4mb_is_3208(http: httpx.AsyncClient, simulator: RunningSimulator) -> None:
    big = b"\x89PNG\r\n\x1a\n" + bytes(4 * 1024 * 1024)
    assert status_code(await post_match(http, simulator, image=big)) == 3208


async def test_request_over_the_body_cap_is_3209_announced_or_chunked(
    http: httpx.AsyncClient, sample_images: SampleImages
) -> None:
    image = sample_images.read(sample_images.known[0])
    async with start_simulator(max_request_bytes=len(image) - 1) as sim:
        assert status_code(await post_match(http, sim, image=image)) == 3209

        async def chunked() -> AsyncIterator[bytes]:
            for start in range(0, len(image), 4096):
                yield image[start : start + 4096]

        response = await http.post(
            f"{sim.base_url}/Match",
            content=chunked(),
            headers={**AUTH, "Content-Type": "image/png"},
        )
        assert "content-length" not in response.request.headers
        assert status_code(response) == 3209


# -- the gateway: keys, quota, unknown paths ------------------------------------------------------


async def test_missing_and_invalid_keys_get_the_gateway_401(
    http: httpx.AsyncClient, simulator: RunningSimulator, simulator_admin: SimulatorAdmin
) -> None:
    missing = await post_match(http, simulator, image=b"x", headers={})
    invalid = await post_match(
        http, simulator, image=b"x", headers={"Ocp-Apim-Subscription-Key": "wrong"}
    )
    assert (missing.status_code, invalid.status_code) == (401, 401)
    assert missing.json()["statusCode"] == 401
    assert "missing subscription key" in missing.json()["message"]
    assert invalid.json()["message"].startswith("Access denied due to invalid subscription key")
    stats = await simulator_admin.stats()
    assert stats["http_401"] == 2
    assert stats.per_key == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/photodna/v1.0/Nope"), ("GET", "/photodna/v1.0/Match"), ("GET", "/")],
)
async def test_unknown_operations_get_the_gateway_404(
    http: httpx.AsyncClient, simulator: RunningSimulator, method: str, path: str
) -> None:
    response = await http.request(method, simulator.root_url + path, headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "message": "Resource not found"}


async def test_quota_is_per_key_with_an_integer_retry_after(
    http: httpx.AsyncClient, sample_images: SampleImages
) -> None:
    """At 0.2 rps the burst is one call and the next token is 5 s away, however slow the machine."""
    image = sample_images.read(sample_images.known[0])
    other_key = "second-test-key-5a1c"
    async with start_simulator(keys=(SIMULATOR_KEY, other_key), quota_rps=0.2) as sim:
        assert status_code(await post_match(http, sim, image=image)) == 3000
        refused = await post_match(http, sim, image=image)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] in ("4", "5")
        assert refused.json()["statusCode"] == 429
        other = await post_match(
            http, sim, image=image, headers={"Ocp-Apim-Subscription-Key": other_key}
        )
        assert status_code(other) == 3000
        async with SimulatorAdmin(sim.admin_url) as admin:
            stats = await admin.stats()
    assert (stats["http_429"], stats["ok_match"], stats.total_requests) == (1, 2, 3)
    assert (stats.for_key(SIMULATOR_KEY), stats.for_key(other_key)) == (2, 1)
    assert SIMULATOR_KEY not in stats.model_dump_json()
    assert key_fingerprint(SIMULATOR_KEY) in stats.per_key


# -- injected faults ------------------------------------------------------------------------------


async def test_429_storm_refuses_everything_until_cleared(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    sample_images: SampleImages,
) -> None:
    image = sample_images.read(sample_images.known[0])
    await simulator_admin.set_faults(storm_429_s=120)
    refused = await post_match(http, simulator, image=image)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 120
    await simulator_admin.set_faults()
    assert status_code(await post_match(http, simulator, image=image)) == 3000


async def test_outage_503_for_match_and_report_until_cleared(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    sample_images: SampleImages,
) -> None:
    image = sample_images.read(sample_images.known[0])
    await simulator_admin.set_faults(outage=True)
    match = await post_match(http, simulator, image=image)
    report = await http.post(f"{simulator.base_url}/Report", json={}, headers=AUTH)
    assert (match.status_code, report.status_code) == (503, 503)
    assert match.json() == {"statusCode": 503, "message": "Service unavailable"}
    await simulator_admin.set_faults()
    assert status_code(await post_match(http, simulator, image=image)) == 3000
    stats = await simulator_admin.stats()
    assert stats.http_5xx_by_status == {"503": 2}


async def test_outage_close_mode_drops_the_connection(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    sample_images: SampleImages,
) -> None:
    await simulator_admin.set_faults(outage=True, outage_mode="close")
    with pytest.raises(httpx.RemoteProtocolError):
        await post_match(http, simulator, image=sample_images.read(sample_images.known[0]))
    assert (await simulator_admin.stats())["connection_dropped"] == 1


async def test_5xx_and_3004_rates(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    sample_images: SampleImages,
) -> None:
    image = sample_images.read(sample_images.known[0])
    await simulator_admin.set_faults(error_5xx_rate=1.0)
    statuses = {(await post_match(http, simulator, image=image)).status_code for _ in range(5)}
    assert statuses <= {500, 502, 503}
    await simulator_admin.set_faults(status_3004_rate=1.0)
    response = await post_match(http, simulator, image=image)
    assert status_code(response) == 3004
    assert response.json()["IsMatch"] is False
    stats = await simulator_admin.stats()
    assert (stats["http_5xx"], stats["status_3004"], stats["ok_match"]) == (5, 1, 0)


async def test_latency_is_the_whole_answer_time_with_the_download_inside_it(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    image_server: ImageServer,
    sample_images: SampleImages,
) -> None:
    """A bench holds the worker to N calls in flight / latency: the simulator's own work must
    not add to the latency it was given. A one-second download under a one-second latency is
    answered after about one second, not two; nothing is answered before the latency."""
    await simulator_admin.set_faults(latency={"kind": "fixed", "ms": 1000})
    slow_download = {"DataRepresentation": "URL", "Value": image_server.hang_url(1)}
    image = sample_images.read(sample_images.known[0])

    async def timed(answer: Awaitable[httpx.Response]) -> tuple[int, float]:
        started = time.monotonic()
        code = status_code(await answer)
        return code, time.monotonic() - started

    (slow_code, slow_s), (inline_code, inline_s) = await asyncio.gather(
        timed(post_match(http, simulator, document=slow_download)),
        timed(post_match(http, simulator, image=image)),
    )
    assert (slow_code, inline_code) == (3002, 3000)
    assert 1.0 <= slow_s < 1.8, "the download ran after the latency instead of inside it"
    assert inline_s >= 1.0


async def test_timeout_fault_hangs_then_drops_without_an_answer(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    sample_images: SampleImages,
) -> None:
    await simulator_admin.set_faults(timeout_rate=1.0, timeout_s=0.2)
    with pytest.raises(httpx.RemoteProtocolError):
        await post_match(http, simulator, image=sample_images.read(sample_images.known[0]))
    assert (await simulator_admin.stats())["timeout"] == 1


def by_hash(data: bytes) -> str:
    """An image fault's key for these bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def by_url(url: str) -> dict[str, str]:
    return {"DataRepresentation": "URL", "Value": url}


async def test_image_faults_hit_one_image_by_url_or_by_hash_and_spare_the_others(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    sample_images: SampleImages,
    image_server: ImageServer,
) -> None:
    bad = sample_images.read(sample_images.unknown[0])
    good_url = image_server.url(sample_images.unknown[1])
    bad_url = good_url + "?bad=1"  # the same image, asked for by another URL
    await simulator_admin.set_faults(
        image_faults={by_hash(bad): "unknown_status", bad_url: "no_status"}
    )
    assert status_code(await post_match(http, simulator, image=bad)) == 3999
    assert status_code(await post_match(http, simulator, document=inline(bad))) == 3999
    no_status = await post_match(http, simulator, document=by_url(bad_url))
    assert no_status.status_code == 200 and "Status" not in no_status.json()
    assert status_code(await post_match(http, simulator, document=by_url(good_url))) == 3000
    good = sample_images.read(sample_images.unknown[2])
    assert status_code(await post_match(http, simulator, image=good)) == 3000
    stats = await simulator_admin.stats()
    assert (stats["status_unknown"], stats["malformed"], stats["ok_clear"]) == (2, 1, 2)


@pytest.mark.parametrize(
    ("fault", "http_status", "body_start"),
    [
        ("status_3004", 200, b'{"Status": {"Code": 3004'),
        ("http_500", 500, b""),
        ("html", 200, b"<html>"),
        ("timeout", None, b""),  # hangs timeout_s, then the connection drops
    ],
)
async def test_image_fault_answers(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    sample_images: SampleImages,
    fault: str,
    http_status: int | None,
    body_start: bytes,
) -> None:
    image = sample_images.read(sample_images.known[0])
    await simulator_admin.set_faults(image_faults={by_hash(image): fault}, timeout_s=0.2)
    if http_status is None:
        with pytest.raises(httpx.RemoteProtocolError):
            await post_match(http, simulator, image=image)
        assert (await simulator_admin.stats())["timeout"] == 1
        return
    response = await post_match(http, simulator, image=image)
    assert response.status_code == http_status
    assert response.content.startswith(body_start)
    assert body_start or response.content == b""


async def test_a_hanging_request_does_not_hold_up_shutdown(
    sample_images: SampleImages,
) -> None:
    """The stop wakes injected hangs at once (pytest's timeout would catch a 10-minute hang)."""
    async with (
        start_simulator(faults=FaultConfig(timeout_rate=1.0, timeout_s=600)) as sim,
        httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=0.2)) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await post_match(client, sim, image=sample_images.read(sample_images.known[0]))


# -- Report ---------------------------------------------------------------------------------------

NCMEC_PASSWORD = "ncmec-password-7c1e"


def report_document(image: bytes) -> dict[str, Any]:
    return {
        "OrgName": "Example Org",
        "ReporterName": "Trust Team",
        "ReporterEmail": "trust@example.org",
        "IncidentTime": "9/10/2014 9:08:14 PM",
        "ReporteeName": "uploader-1",
        "ReporteeIPAddress": "192.0.2.7",
        "ViolationContentCollection": [
            {
                "Name": "upload.png",
                "Value": base64.b64encode(image).decode(),
                "UploadIpAddress": "192.0.2.7",
            }
        ],
        "AdditionalMetadata": [{"Key": "IsTest", "Value": "true"}],
    }


async def test_report_is_accepted_and_recorded_without_password_or_image(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    sample_images: SampleImages,
) -> None:
    image = sample_images.read(sample_images.known[0])
    headers = {**AUTH, "x-usr": "org-user", "x-pwd": NCMEC_PASSWORD}
    response = await http.post(
        f"{simulator.base_url}/Report", json=report_document(image), headers=headers
    )
    body = response.json()
    assert body["Status"]["Code"] == 3000
    assert TRACKING_ID.match(body["TrackingId"])
    assert body["ReportId"]

    [received] = await simulator_admin.reports()
    assert (received.report_id, received.tracking_id) == (body["ReportId"], body["TrackingId"])
    assert (received.has_x_usr, received.has_x_pwd, received.is_test) == (True, True, True)
    assert received.body["OrgName"] == "Example Org"
    [item] = received.body["ViolationContentCollection"]
    assert item == {"Name": "upload.png", "UploadIpAddress": "192.0.2.7", "ValueBytes": len(image)}
    everything = json.dumps([r.model_dump(mode="json") for r in await simulator_admin.reports()])
    assert NCMEC_PASSWORD not in everything
    assert base64.b64encode(image).decode()[:40] not in everything
    assert (await simulator_admin.stats())["reports"] == 1


@pytest.mark.parametrize(
    "problem", ["no-credentials", "missing-field", "bad-base64", "empty-collection"]
)
async def test_incomplete_reports_are_3002(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    sample_images: SampleImages,
    problem: str,
) -> None:
    document = report_document(sample_images.read(sample_images.known[0]))
    headers = {**AUTH, "x-usr": "org-user", "x-pwd": NCMEC_PASSWORD}
    if problem == "no-credentials":
        del headers["x-pwd"]
    elif problem == "missing-field":
        del document["ReporteeIPAddress"]
    elif problem == "bad-base64":
        document["ViolationContentCollection"][0]["Value"] = "%%%"
    else:
        document["ViolationContentCollection"] = []
    response = await http.post(f"{simulator.base_url}/Report", json=document, headers=headers)
    assert status_code(response) == 3002
    assert "ReportId" not in response.json()
    [received] = await simulator_admin.reports()
    assert received.status_code == 3002 and received.report_id is None
    assert received.has_x_pwd is (problem != "no-credentials")


# -- admin ----------------------------------------------------------------------------------------


async def test_faults_are_readable_and_invalid_ones_refused(
    http: httpx.AsyncClient, simulator: RunningSimulator, simulator_admin: SimulatorAdmin
) -> None:
    applied = await simulator_admin.set_faults(
        error_5xx_rate=0.25, latency={"kind": "fixed", "ms": 1}
    )
    assert await simulator_admin.faults() == applied
    response = await http.put(f"{simulator.admin_url}/faults", json={"error_5xx_rate": 2})
    assert response.status_code == 400
    assert response.json()["details"][0]["loc"] == ["error_5xx_rate"]
    assert await simulator_admin.faults() == applied


async def test_an_image_added_at_runtime_matches_from_then_on(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    sample_images: SampleImages,
) -> None:
    new = sample_images.read(sample_images.unknown[2])
    assert (await post_match(http, simulator, image=new)).json()["IsMatch"] is False
    entry = await simulator_admin.add_to_db(new, source="Partner", violations=("B1",), label="late")
    body = (await post_match(http, simulator, image=new)).json()
    assert body["IsMatch"] is True
    assert body["MatchDetails"]["MatchFlags"] == [
        {
            "AdvancedInfo": [{"Key": "MatchId", "Value": entry.match_id}],
            "Source": "Partner",
            "Violations": ["B1"],
            "MatchDistance": 0,
        }
    ]
    assert await simulator_admin.reload_db() == 6
    assert (await post_match(http, simulator, image=new)).json()["IsMatch"] is False


async def test_db_additions_by_hash_and_refusals(
    simulator_admin: SimulatorAdmin, sample_images: SampleImages
) -> None:
    entries = await simulator_admin.db_entries()
    assert len(entries) == 6
    added = await simulator_admin.add_to_db(pdq="f" * 64, match_id="abc")
    assert (await simulator_admin.db_entries())[-1] == added
    with pytest.raises(SimulatorAdminError, match="3206"):
        await simulator_admin.add_to_db(b"not an image")
    with pytest.raises(SimulatorAdminError, match="exactly one"):
        await simulator_admin.add_to_db()
    with pytest.raises(SimulatorAdminError, match="already"):
        await simulator_admin.add_to_db(pdq="0" * 64, match_id="abc")


async def test_reset_stats_zeroes_counters_and_reports(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    sample_images: SampleImages,
) -> None:
    await post_match(http, simulator, image=sample_images.read(sample_images.known[0]))
    await http.post(f"{simulator.base_url}/Report", json={}, headers=AUTH)
    await simulator_admin.reset_stats()
    stats = await simulator_admin.stats()
    assert stats.total_requests == 0 and set(stats.answers.values()) == {0}
    assert await simulator_admin.reports() == []
    assert await simulator_admin.healthy()


# -- nothing sensitive kept or logged -------------------------------------------------------------


def _reachable_bytes(*roots: object) -> list[bytes]:
    """Every bytes object reachable from ``roots`` through plain data (not through classes)."""
    seen: set[int] = set()
    found: list[bytes] = []
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        if isinstance(obj, bytes | bytearray | memoryview):
            found.append(bytes(obj))
            continue
        stack.extend(gc.get_referents(obj))
    return found


async def test_no_image_bytes_are_kept_or_logged(
    http: httpx.AsyncClient,
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    sample_images: SampleImages,
    image_server: ImageServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    images = [
        sample_images.read(name) for name in (*sample_images.known[:2], *sample_images.unknown[:1])
    ]
    for image in images:
        await post_match(http, simulator, image=image)
        await post_match(http, simulator, document=inline(image))
    await post_match(
        http,
        simulator,
        document={"DataRepresentation": "URL", "Value": image_server.url(sample_images.known[3])},
    )
    await simulator_admin.add_to_db(images[2])
    await http.post(
        f"{simulator.base_url}/Report",
        json=report_document(images[0]),
        headers={**AUTH, "x-usr": "u", "x-pwd": NCMEC_PASSWORD},
    )

    sim = simulator.simulator
    kept = _reachable_bytes(sim.db, sim.hashes, sim.reports, sim.stats)
    assert all(len(blob) <= 32 for blob in kept), "something bigger than a digest is kept"
    snippets = [image[100:164] for image in images]
    logged = caplog.text
    assert not any(base64.b64encode(s).decode()[:40] in logged for s in snippets)
    assert SIMULATOR_KEY not in logged and NCMEC_PASSWORD not in logged
