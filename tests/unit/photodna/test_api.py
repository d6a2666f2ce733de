"""The raw PhotoDNA client against httpx.MockTransport: bodies, taxonomy, retries, fail-closed."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from hashgate_tools.harness.waiting import eventually
from streams.errors import (
    AuthenticationError,
    CircuitOpenError,
    ConfigurationError,
    HashgateError,
    RateLimitedError,
    ReasonCode,
    RejectedByPhotoDNA,
    TransientError,
    UnknownStatusError,
)
from streams.photodna import (
    BreakerState,
    Canary,
    CircuitBreaker,
    ImageBytes,
    ImageUrl,
    InlineImage,
    Lane,
    MatchFlag,
    PhotoDNAClient,
    RateLimiter,
    RetryPolicy,
    parse_retry_after,
)
from streams.photodna.canary import CANARY_ATTEMPTS
from streams.settings import PhotoDNASettings
from tests.support import settle

pytestmark = pytest.mark.unit

KEY = SecretStr("k3y-SUPER-secret-0123456789abcdef")
ENDPOINT = "https://photodna.test/photodna/v1.0"
IMAGE_URL = "https://cdn.example.com/u/alice/photo.jpg?sig=presigned-SIGNATURE"
TRACKING = "WUS_418b5903425346a1b1451821c5cd06ee"

Reply = httpx.Response | Exception | dict[str, Any]


def ok(is_match: bool = False, flags: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "Status": {"Code": 3000, "Description": "OK", "Exception": None},
        "ContentId": None,
        "IsMatch": is_match,
        "MatchDetails": {"AdvancedInfo": [], "MatchFlags": flags or []},
        "XPartnerCustomerId": None,
        "TrackingId": TRACKING,
        "EvaluateResponse": None,
    }


def status(code: int, description: str = "something") -> dict[str, Any]:
    return {"Status": {"Code": code, "Description": description}, "TrackingId": TRACKING}


TEST_FLAG = {
    "AdvancedInfo": [{"Key": "MatchId", "Value": "104149"}],
    "Source": "Test",
    "Violations": ["A1"],
}


class Server:
    """Answers with the scripted replies in order (the last one repeats) and records requests."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, dict):
            return httpx.Response(200, json=reply)
        return reply

    @property
    def calls(self) -> int:
        return len(self.requests)


class Sleeps:
    """Records backoff waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def retry_policy(
    sleeps: Sleeps, max_attempts: int = 3, random: Callable[[], float] = lambda: 1.0
) -> RetryPolicy:
    return RetryPolicy(max_attempts, 0.1, 1.0, sleep=sleeps, random=random)


def make_client(
    server: Server,
    *,
    max_attempts: int = 3,
    sleeps: Sleeps | None = None,
    breaker: CircuitBreaker | None = None,
    rate_limiter: RateLimiter | None = None,
) -> PhotoDNAClient:
    return PhotoDNAClient(
        endpoint=ENDPOINT + "/",
        subscription_key=KEY,
        timeout=httpx.Timeout(5.0),
        max_connections=4,
        transport=httpx.MockTransport(server),
        breaker=breaker,
        rate_limiter=rate_limiter,
        retry=retry_policy(sleeps or Sleeps(), max_attempts),
    )


async def match_once(server: Server, **options: Any) -> Any:
    async with make_client(server, **options) as client:
        return await client.match(ImageUrl(IMAGE_URL))


# -- requests ----------------------------------------------------------------------------------


async def test_url_request_shape() -> None:
    server = Server(ok())
    async with make_client(server) as client:
        await client.match(ImageUrl(IMAGE_URL), enhance=True)

    (request,) = server.requests
    assert request.method == "POST"
    assert str(request.url) == f"{ENDPOINT}/Match?enhance=true"
    assert request.headers["Ocp-Apim-Subscription-Key"] == KEY.get_secret_value()
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {"DataRepresentation": "URL", "Value": IMAGE_URL}


async def test_inline_request_is_base64_json_and_enhance_defaults_to_false() -> None:
    server = Server(ok())
    async with make_client(server) as client:
        await client.match(InlineImage(b"\xff\xd8\xff-image-bytes"))

    (request,) = server.requests
    assert request.url.params["enhance"] == "false"
    body = json.loads(request.content)
    assert body["DataRepresentation"] == "inline"
    assert base64.b64decode(body["Value"]) == b"\xff\xd8\xff-image-bytes"


@pytest.mark.parametrize(
    "content_type", ["image/gif", "image/jpeg", "image/png", "image/bmp", "image/tiff"]
)
async def test_raw_bytes_request_carries_the_image_type(content_type: str) -> None:
    server = Server(ok())
    async with make_client(server) as client:
        await client.match(ImageBytes(b"raw-image", content_type))

    (request,) = server.requests
    assert request.headers["Content-Type"] == content_type
    assert request.content == b"raw-image"


@pytest.mark.parametrize("content_type", ["image/webp", "text/html", "application/json", ""])
def test_raw_bytes_refuse_types_photodna_does_not_take(content_type: str) -> None:
    with pytest.raises(ValueError):
        ImageBytes(b"x", content_type)


# -- results -----------------------------------------------------------------------------------


async def test_match_result_carries_flags_and_tracking() -> None:
    result = await match_once(Server(ok(True, [TEST_FLAG])))

    assert result.is_match is True
    assert result.flags == [MatchFlag(source="Test", violations=["A1"], match_id="104149")]
    assert result.tracking_id == TRACKING
    assert (result.status_code, result.status_description) == (3000, "OK")


@pytest.mark.parametrize(("raw", "distance"), [(17, 17), (0, 0), (-1, None), ("17", None)])
async def test_match_distance_is_carried_when_it_is_a_whole_number(
    raw: object, distance: int | None
) -> None:
    """A strange MatchDistance is dropped; it never turns a match into a doubt."""
    result = await match_once(Server(ok(True, [{**TEST_FLAG, "MatchDistance": raw}])))

    assert result.is_match is True
    assert result.flags == [
        MatchFlag(source="Test", violations=["A1"], match_id="104149", distance=distance)
    ]
    assert result.attempts == 1
    assert result.api_seconds >= 0


async def test_clear_result() -> None:
    result = await match_once(Server(ok(False)))

    assert result.is_match is False
    assert result.flags == []


async def test_flags_without_is_match_still_count_as_a_match() -> None:
    result = await match_once(Server(ok(False, [TEST_FLAG])))

    assert result.is_match is True
    assert result.flags[0].match_id == "104149"


async def test_match_with_unreadable_details_is_still_a_match() -> None:
    body = ok(True)
    body["MatchDetails"] = "garbled"

    result = await match_once(Server(body))

    assert result.is_match is True


def _with(**changes: Any) -> dict[str, Any]:
    body = ok(False)
    for key, value in changes.items():
        if value is _DROP:
            body.pop(key)
        else:
            body[key] = value
    return body


_DROP = object()

GARBAGE_3000: list[httpx.Response | dict[str, Any]] = [
    _with(IsMatch=_DROP),
    _with(IsMatch=None),
    _with(IsMatch="false"),
    _with(IsMatch=0),
    _with(IsMatch=[]),
    _with(MatchDetails="garbled"),
    _with(MatchDetails={"MatchFlags": "none"}),
    _with(MatchDetails={"MatchFlags": ["not-a-flag"]}),
    _with(TrackingId=_DROP),
    _with(Status=_DROP),
    _with(Status={"Code": "3000"}),
    _with(Status={"Code": True}),
    _with(Status="OK"),
    httpx.Response(200, content=b"<html>gateway error</html>"),
    httpx.Response(200, content=b""),
    httpx.Response(200, json=[ok(False)]),
    httpx.Response(200, json=None),
]


@pytest.mark.parametrize("garbage", GARBAGE_3000)
async def test_garbage_answers_are_transient_never_a_clear(
    garbage: httpx.Response | dict[str, Any],
) -> None:
    server = Server(garbage)

    with pytest.raises(TransientError):
        await match_once(server)

    assert server.calls == 3  # retried: it is the service's fault


async def test_garbage_then_a_good_answer_yields_the_good_one() -> None:
    result = await match_once(Server(_with(IsMatch=None), ok(True, [TEST_FLAG])))

    assert result.is_match is True
    assert result.attempts == 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5000) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
answer_bodies = st.fixed_dictionaries(
    {},
    optional={
        "Status": st.fixed_dictionaries({}, optional={"Code": json_values | st.just(3000)})
        | json_values,
        "IsMatch": json_values,
        "MatchDetails": st.fixed_dictionaries(
            {}, optional={"MatchFlags": st.lists(json_values | st.just(TEST_FLAG), max_size=2)}
        )
        | json_values,
        "TrackingId": st.text(max_size=5) | json_values,
    },
)


@settings(
    max_examples=150,
    deadline=None,  # a loaded machine may take long over one example: no fault
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=answer_bodies)
async def test_only_an_explicit_clear_is_ever_a_clear(body: dict[str, Any]) -> None:
    try:
        result = await match_once(Server(body), max_attempts=1)
    except HashgateError:
        return
    assert body["Status"]["Code"] == 3000
    if not result.is_match:
        assert body["IsMatch"] is False
        flags = (body.get("MatchDetails") or {}).get("MatchFlags")
        assert not flags


# -- the error taxonomy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (3002, ReasonCode.INVALID_REQUEST),
        (3206, ReasonCode.NOT_AN_IMAGE),
        (3208, ReasonCode.IMAGE_SIZE_OUT_OF_RANGE),
        (3209, ReasonCode.REQUEST_TOO_LARGE),
    ],
)
async def test_permanent_status_codes_are_not_retried(code: int, reason: ReasonCode) -> None:
    server = Server(status(code, "Image size out of range"))

    with pytest.raises(RejectedByPhotoDNA) as caught:
        await match_once(server)

    assert caught.value.reason is reason
    assert caught.value.status_code == code
    assert server.calls == 1
    assert f"Status {code}" in str(caught.value)
    assert TRACKING in str(caught.value)


async def test_3004_is_transient_and_retried() -> None:
    server = Server(status(3004))

    with pytest.raises(TransientError) as caught:
        await match_once(server)

    assert type(caught.value) is TransientError
    assert server.calls == 3
    assert "Status 3004" in str(caught.value)


@pytest.mark.parametrize("code", [3001, 3100, 3999, 4000])
async def test_undocumented_codes_are_retried_and_never_a_result(code: int) -> None:
    server = Server(status(code))

    with pytest.raises(UnknownStatusError) as caught:
        await match_once(server)

    assert caught.value.status_code == code
    assert server.calls == 3
    assert f"Status {code}" in str(caught.value)


async def test_answers_are_counted_by_status_code() -> None:
    server = Server(
        status(3999),
        httpx.Response(500),
        httpx.Response(200, text="<html>maintenance</html>"),
        ok(),
    )
    async with make_client(server, max_attempts=4) as client:
        await client.match(ImageUrl(IMAGE_URL))
    assert client.answers == {
        ("event", "3999"): 1,
        ("event", "http_500"): 1,
        ("event", "unreadable"): 1,
        ("event", "3000"): 1,
    }


@pytest.mark.parametrize("http_status", [401, 403])
async def test_bad_key_raises_authentication_error_at_once(http_status: int) -> None:
    body = {"statusCode": http_status, "message": "Access denied due to invalid subscription key."}
    server = Server(httpx.Response(http_status, json=body))

    with pytest.raises(AuthenticationError) as caught:
        await match_once(server, max_attempts=6)

    assert caught.value.status_code == http_status
    assert server.calls == 1
    assert f"HTTP {http_status}" in str(caught.value)


@pytest.mark.parametrize("http_status", [500, 502, 503, 504, 408])
async def test_gateway_errors_are_transient_and_retried(http_status: int) -> None:
    server = Server(httpx.Response(http_status))

    with pytest.raises(TransientError) as caught:
        await match_once(server)

    assert server.calls == 3
    assert f"HTTP {http_status}" in str(caught.value)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.ReadTimeout("slow answer"),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.ReadError("connection reset"),
    ],
)
async def test_network_failures_are_transient_and_retried(failure: Exception) -> None:
    server = Server(failure)

    with pytest.raises(TransientError) as caught:
        await match_once(server)

    assert server.calls == 3
    assert type(failure).__name__ in str(caught.value)


@pytest.mark.parametrize(
    ("http_status", "reason"),
    [
        (400, ReasonCode.INVALID_REQUEST),
        (415, ReasonCode.INVALID_REQUEST),
        (422, ReasonCode.INVALID_REQUEST),
        (413, ReasonCode.REQUEST_TOO_LARGE),
    ],
)
async def test_other_client_errors_are_permanent(http_status: int, reason: ReasonCode) -> None:
    server = Server(httpx.Response(http_status, json={"message": "bad"}))

    with pytest.raises(RejectedByPhotoDNA) as caught:
        await match_once(server)

    assert caught.value.reason is reason
    assert caught.value.status_code == http_status
    assert server.calls == 1


async def test_error_message_carries_the_service_exception_detail() -> None:
    answer = status(3208, "Image size out of range")
    answer["Status"]["Exception"] = "image is 100x100 pixels"

    with pytest.raises(RejectedByPhotoDNA) as caught:
        await match_once(Server(answer))

    assert str(caught.value) == (
        f"PhotoDNA Match: Status 3208 (Image size out of range: image is 100x100 pixels), "
        f"TrackingId {TRACKING}"
    )


async def test_client_error_with_a_status_body_uses_the_status_code() -> None:
    server = Server(httpx.Response(400, json=status(3208, "Image size out of range")))

    with pytest.raises(RejectedByPhotoDNA) as caught:
        await match_once(server)

    assert caught.value.reason is ReasonCode.IMAGE_SIZE_OUT_OF_RANGE


@pytest.mark.parametrize("http_status", [404, 405])
async def test_wrong_endpoint_is_a_configuration_error(http_status: int) -> None:
    server = Server(httpx.Response(http_status))

    with pytest.raises(ConfigurationError) as caught:
        await match_once(server)

    assert not isinstance(caught.value, AuthenticationError)
    assert server.calls == 1


async def test_429_is_rate_limited_with_retry_after_and_retried() -> None:
    server = Server(httpx.Response(429, headers={"Retry-After": "7"}))

    with pytest.raises(RateLimitedError) as caught:
        await match_once(server)

    assert caught.value.retry_after == 7.0
    assert server.calls == 3


# -- retries -----------------------------------------------------------------------------------


async def test_backoff_is_capped_exponential() -> None:
    sleeps = Sleeps()
    server = Server(httpx.Response(503))

    with pytest.raises(TransientError):
        await match_once(server, max_attempts=7, sleeps=sleeps)

    assert server.calls == 7
    assert sleeps.waits == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


async def test_backoff_has_full_jitter() -> None:
    draws = iter([0.0, 0.5, 0.25, 0.9])
    sleeps = Sleeps()
    policy = RetryPolicy(5, 0.1, 1.0, sleep=sleeps, random=lambda: next(draws))
    server = Server(httpx.Response(503))
    client = PhotoDNAClient(
        endpoint=ENDPOINT,
        subscription_key=KEY,
        timeout=httpx.Timeout(5.0),
        max_connections=1,
        transport=httpx.MockTransport(server),
        retry=policy,
    )

    with pytest.raises(TransientError):
        await client.match(ImageUrl(IMAGE_URL))

    assert sleeps.waits == pytest.approx([0.0 * 0.1, 0.5 * 0.2, 0.25 * 0.4, 0.9 * 0.8])


async def test_retry_after_is_a_floor_for_the_wait() -> None:
    sleeps = Sleeps()
    server = Server(
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(429, headers={"Retry-After": "0"}),
        ok(),
    )

    result = await match_once(server, sleeps=sleeps)

    assert result.attempts == 3
    assert sleeps.waits[0] == 3.0
    assert sleeps.waits[1] == pytest.approx(0.2)  # backoff when Retry-After asks for less


async def test_exhausted_retries_say_so() -> None:
    with pytest.raises(TransientError, match=r"HTTP 503 \(gave up after 3 attempts\)$"):
        await match_once(Server(httpx.Response(503)))


async def test_transient_then_success_counts_the_attempts() -> None:
    result = await match_once(Server(httpx.Response(502), status(3004), ok(True, [TEST_FLAG])))

    assert result.attempts == 3
    assert result.is_match


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    in_ten = format_datetime(now + timedelta(seconds=10), usegmt=True)

    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(in_ten, now=now) == pytest.approx(10.0)
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=60), usegmt=True), now=now) == 0
    )
    assert parse_retry_after("-4") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(None) is None


# -- breaker and rate limiter wiring -----------------------------------------------------------


class Probe:
    """The breaker's health probe, scripted: answers from ``healthy`` (the last one repeats)."""

    def __init__(self, *healthy: bool) -> None:
        self.healthy = list(healthy)
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        return self.healthy.pop(0) if len(self.healthy) > 1 else self.healthy[0]


async def test_failures_ask_the_probe_which_opens_and_fail_fast_sends_nothing() -> None:
    probe = Probe(False)
    breaker = CircuitBreaker(2, 60, probe=probe)
    server = Server(httpx.Response(503))
    client = make_client(server, max_attempts=2, breaker=breaker)

    with pytest.raises(TransientError):
        await client.match(ImageUrl(IMAGE_URL))
    await eventually(lambda: breaker.state is BreakerState.OPEN, within=5, what="open")

    with pytest.raises(CircuitOpenError):
        await client.match(ImageUrl(IMAGE_URL), fail_fast=True)
    assert server.calls == 2 and probe.calls == 1
    await client.aclose()


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(429),
        httpx.Response(401),
        httpx.Response(400),
        status(3206),
        ok(),
    ],
)
async def test_only_transient_failures_count_toward_a_probe(reply: Reply) -> None:
    probe = Probe(False)
    breaker = CircuitBreaker(1, 60, probe=probe)

    client = make_client(Server(reply), max_attempts=2, breaker=breaker)

    with contextlib.suppress(HashgateError):
        await client.match(ImageUrl(IMAGE_URL))
    await settle()  # a probe, had one been asked for, would have started by now

    assert probe.calls == 0 and breaker.state is BreakerState.CLOSED
    await client.aclose()


@pytest.mark.parametrize("is_match", [True, False])
async def test_status_3004_counts_toward_the_probe_whatever_isMatch_says(is_match: bool) -> None:
    probe = Probe(False)
    breaker = CircuitBreaker(1, 60, probe=probe)
    client = make_client(Server({**status(3004), "IsMatch": is_match}), breaker=breaker)

    with pytest.raises(TransientError):
        await client.match(ImageUrl(IMAGE_URL))

    await eventually(lambda: breaker.state is BreakerState.OPEN, within=5, what="open")
    assert probe.calls == 1
    await client.aclose()


async def test_open_breaker_makes_match_wait_until_the_probe_closes_it() -> None:
    breaker = CircuitBreaker(1, 0.05, probe=Probe(False, True))
    assert not await breaker.answering_now()
    server = Server(ok(True, [TEST_FLAG]))

    result = await match_once(server, breaker=breaker)

    assert result.is_match and result.attempts == 1 and server.calls == 1
    assert breaker.state is BreakerState.CLOSED


async def test_probe_ignores_the_open_breaker_and_is_counted_apart() -> None:
    probe = Probe(False)
    breaker = CircuitBreaker(1, 60, probe=probe)
    assert not await breaker.answering_now()
    server = Server(httpx.Response(503), ok(), httpx.Response(503))
    async with make_client(server, max_attempts=6, breaker=breaker) as client:
        result = await client.probe(ImageBytes(b"png", "image/png"), attempts=2)
        with pytest.raises(TransientError, match="gave up after 1 attempts"):
            await client.probe(ImageBytes(b"png", "image/png"), attempts=1)
    assert not result.is_match and result.attempts == 2
    assert client.probe_calls == 3 and server.calls == 3
    assert client.answers == {("probe", "http_503"): 2, ("probe", "3000"): 1}
    assert breaker.state is BreakerState.OPEN, "probe calls do not report to the breaker"


class SpyLimiter(RateLimiter):
    def __init__(self) -> None:
        super().__init__(1000.0)
        self.events: list[str] = []

    async def acquire(self, lane: Lane = Lane.LIVE) -> float:
        self.events.append(f"acquire:{lane.value}")
        return await super().acquire(lane)

    def on_throttled(
        self, retry_after: float | None = None, *, granted_at: float | None = None
    ) -> None:
        self.events.append(f"throttled:{retry_after}")
        super().on_throttled(retry_after, granted_at=granted_at)

    def on_success(self) -> None:
        self.events.append("success")
        super().on_success()


async def test_limiter_is_asked_before_every_attempt_and_told_how_it_went() -> None:
    limiter = SpyLimiter()
    server = Server(
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(503),
        status(3004),
        ok(),
    )
    async with make_client(server, max_attempts=4, rate_limiter=limiter) as client:
        await client.match(ImageUrl(IMAGE_URL), lane=Lane.RESCAN)

    assert limiter.events == [
        "acquire:rescan",
        "throttled:0.0",
        "acquire:rescan",
        "acquire:rescan",
        "success",  # a 3004 came through the gateway fine: the quota is not the problem
        "acquire:rescan",
        "success",
    ]


async def test_the_canary_takes_a_live_token_per_call_even_while_the_breaker_is_open() -> None:
    """Its quota share is bounded only because every canary call goes through the limiter."""
    limiter = SpyLimiter()
    breaker = CircuitBreaker(1, 60, probe=Probe(False))
    assert not await breaker.answering_now()
    server = Server(httpx.Response(503), status(3004), ok())
    async with make_client(server, breaker=breaker, rate_limiter=limiter) as client:
        assert await Canary(client).answers()

    assert server.calls == CANARY_ATTEMPTS == client.probe_calls
    assert limiter.events == [
        "acquire:live",  # 503
        "acquire:live",
        "success",  # 3004
        "acquire:live",
        "success",  # 3000, no match
    ]


# -- secrets never leak ------------------------------------------------------------------------

LEAKY_REPLIES: list[Reply] = [
    httpx.Response(401, json={"message": f"invalid key {KEY.get_secret_value()}"}),
    httpx.Response(403, json={"message": "forbidden"}),
    httpx.Response(400, json={"message": f"bad request for key={KEY.get_secret_value()}"}),
    httpx.Response(429),
    httpx.Response(500, json={"message": f"upstream {IMAGE_URL} failed"}),
    status(3002, f"Invalid value {IMAGE_URL} for key {KEY.get_secret_value()}"),
    status(3004, KEY.get_secret_value()),
    _with(IsMatch=None),
    httpx.ConnectError(f"cannot reach {IMAGE_URL}"),
]


@pytest.mark.parametrize("reply", LEAKY_REPLIES)
async def test_key_and_image_url_never_leak_into_errors_or_logs(
    reply: Reply, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(Server(reply))

    with pytest.raises(HashgateError) as caught:
        await client.match(ImageUrl(IMAGE_URL))
    await client.aclose()

    texts = [str(caught.value), repr(caught.value), caplog.text, repr(client)]
    for text in texts:
        assert KEY.get_secret_value() not in text
        assert "presigned-SIGNATURE" not in text
        assert "alice" not in text


def test_repr_shows_no_key() -> None:
    client = make_client(Server(ok()))
    assert KEY.get_secret_value() not in repr(client)
    assert KEY.get_secret_value() not in str(client)


# -- from_settings ----------------------------------------------------------------------------


def test_from_settings_needs_a_key() -> None:
    with pytest.raises(ConfigurationError, match="SUBSCRIPTION_KEY"):
        PhotoDNAClient.from_settings(PhotoDNASettings())


def test_from_settings_refuses_a_floor_that_leaves_live_nothing() -> None:
    settings_ = PhotoDNASettings(subscription_key=KEY, key_quota_rps=2)
    with pytest.raises(ConfigurationError, match="RESCAN_FLOOR"):
        PhotoDNAClient.from_settings(settings_, rescan_floor_rps=2)


async def test_from_settings_wires_every_part() -> None:
    settings_ = PhotoDNASettings(
        endpoint="https://photodna.test/photodna/v1.0",
        subscription_key=SecretStr("from-settings-key"),
        key_quota_rps=8,
        max_attempts=4,
        backoff_base_s=0.5,
        backoff_cap_s=9,
        breaker_failure_threshold=7,
        breaker_reset_s=3,
    )
    server = Server(ok())

    client = PhotoDNAClient.from_settings(
        settings_, transport=httpx.MockTransport(server), rescan_floor_rps=1
    )
    async with client:
        await client.match(ImageUrl(IMAGE_URL))

    assert client.rate_limiter is RateLimiter.for_key(
        SecretStr("from-settings-key"), 8, rescan_floor_rps=1
    )
    assert client.rate_limiter.rescan_floor_rps == 1
    assert (client.retry.max_attempts, client.retry.base_s, client.retry.cap_s) == (4, 0.5, 9)
    assert client.breaker is not None and client.breaker.reset_s == 3
    assert client.breaker.failure_threshold == 7
    assert str(server.requests[0].url).startswith("https://photodna.test/photodna/v1.0/Match?")


async def test_retries_are_counted_per_lane_as_they_happen_even_without_a_result() -> None:
    # The runbook tells operators to watch hashgate_photodna_retries_total rise while calls
    # fail, before any verdict exists: a count taken only at the verdict would stay at 0.
    async with make_client(Server(httpx.Response(503))) as client:
        with pytest.raises(TransientError):
            await client.match(ImageUrl(IMAGE_URL), lane=Lane.RESCAN)

        assert client.retries == {Lane.RESCAN.value: 2}
