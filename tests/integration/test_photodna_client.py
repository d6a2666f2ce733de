"""The real PhotoDNA client against the simulator, over real HTTP on 127.0.0.1.

Every answer the service can give is exercised through ``PhotoDNAClient`` and checked for the
error class the worker acts on. Retries and Retry-After are asserted through the simulator's
own counts of what it answered, never through timing. No Kafka needed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from hashgate_tools.harness.images import (
    SIMULATOR_KEY,
    ImageServer,
    SampleImages,
    start_simulator,
)
from hashgate_tools.harness.waiting import eventually
from hashgate_tools.simulator import FaultConfig, RunningSimulator, SimulatorAdmin
from streams.errors import (
    REPLAYABLE_REASONS,
    AuthenticationError,
    CircuitOpenError,
    HashgateError,
    RateLimitedError,
    ReasonCode,
    RejectedByPhotoDNA,
    TransientError,
)
from streams.media.fetcher import ImageFetcher
from streams.photodna import (
    BreakerState,
    CircuitBreaker,
    ImageBytes,
    ImageInput,
    ImageUrl,
    InlineImage,
    MatchFlag,
    MediaRef,
    PhotoDNAClient,
    PhotoDNAMatcher,
    RateLimiter,
    ReportRequest,
    RetryPolicy,
    ViolationContent,
)
from streams.photodna.canary import CANARY_ATTEMPTS, Canary
from streams.settings import DeliveryMode, MediaSettings

pytest_plugins = ["tests.fixtures.simulator"]
pytestmark = pytest.mark.integration

TRACKING_ID = re.compile(r"^[A-Z]{3}_[0-9a-f]{32}_[0-9a-f]{24}_[0-9a-f]{32}$")
FAST_RETRIES = RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.05)
NCMEC_PASSWORD = "ncmec-secret-pw-31d7"


@asynccontextmanager
async def photodna_client(
    sim: RunningSimulator,
    *,
    key: str = SIMULATOR_KEY,
    retry: RetryPolicy = FAST_RETRIES,
    rate_limiter: RateLimiter | None = None,
    read_timeout_s: float = 10.0,
) -> AsyncIterator[PhotoDNAClient]:
    async with PhotoDNAClient(
        endpoint=sim.base_url,
        subscription_key=SecretStr(key),
        timeout=httpx.Timeout(read_timeout_s, connect=5.0),
        max_connections=50,
        rate_limiter=rate_limiter,
        retry=retry,
    ) as client:
        yield client


def known_flag(match_id: str, distance: int = 0) -> MatchFlag:
    return MatchFlag(source="Test", violations=["A1"], match_id=match_id, distance=distance)


def assert_near_match(flags: list[MatchFlag], match_id: str) -> None:
    """A degraded copy: the known entry, at a distance within the simulator's threshold."""
    (flag,) = flags
    assert flag.distance is not None and flag.distance <= 31
    assert flag == known_flag(match_id, flag.distance)


# -- 3000: match and clear, in every body form ----------------------------------------------------


async def test_known_image_matches_in_all_three_body_forms(
    simulator: RunningSimulator, image_server: ImageServer, sample_images: SampleImages
) -> None:
    data = sample_images.read(sample_images.known[0])
    inputs: list[ImageInput] = [
        ImageBytes(data, "image/png"),
        InlineImage(data),
        ImageUrl(image_server.url(sample_images.known[0])),
    ]
    async with photodna_client(simulator) as client:
        results = [await client.match(image) for image in inputs]
    for result in results:
        assert result.is_match is True
        assert result.flags == [known_flag("100001")]
        assert (result.status_code, result.attempts) == (3000, 1)
        assert TRACKING_ID.match(result.tracking_id)
    assert len({r.tracking_id for r in results}) == 3


async def test_unknown_image_is_clear(
    simulator: RunningSimulator, sample_images: SampleImages
) -> None:
    async with photodna_client(simulator) as client:
        result = await client.match(InlineImage(sample_images.read(sample_images.unknown[0])))
    assert (result.is_match, result.flags, result.status_code) == (False, [], 3000)


async def test_jpeg_q50_half_size_copy_of_a_known_image_matches(
    simulator: RunningSimulator, image_server: ImageServer, sample_images: SampleImages
) -> None:
    async with photodna_client(simulator) as client:
        for index, name in enumerate(sample_images.degraded):
            result = await client.match(ImageUrl(image_server.url(name)), enhance=True)
            assert result.is_match, name
            assert_near_match(result.flags, str(100001 + index))


async def test_image_added_mid_run_matches_on_rescan(
    simulator: RunningSimulator, simulator_admin: SimulatorAdmin, sample_images: SampleImages
) -> None:
    image = InlineImage(sample_images.read(sample_images.unknown[1]))
    async with photodna_client(simulator) as client:
        assert (await client.match(image)).is_match is False
        entry = await simulator_admin.add_to_db(image.data, violations=("A1", "B1"))
        rescan = await client.match(image)
    assert rescan.flags == [MatchFlag("Test", ["A1", "B1"], entry.match_id, 0)]


# -- permanent refusals: one call, no retry -------------------------------------------------------


async def test_permanent_refusals_raise_rejected_without_retrying(
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    image_server: ImageServer,
    sample_images: SampleImages,
) -> None:
    cases: list[tuple[ImageInput, int, ReasonCode]] = [
        (ImageUrl(image_server.url("no-such-image.png")), 3002, ReasonCode.INVALID_REQUEST),
        (
            InlineImage(sample_images.read(sample_images.not_an_image)),
            3206,
            ReasonCode.NOT_AN_IMAGE,
        ),
        (
            ImageBytes(sample_images.read(sample_images.too_small), "image/png"),
            3208,
            ReasonCode.IMAGE_SIZE_OUT_OF_RANGE,
        ),
    ]
    async with photodna_client(simulator) as client:
        for image, status, reason in cases:
            with pytest.raises(RejectedByPhotoDNA) as caught:
                await client.match(image)
            assert (caught.value.status_code, caught.value.reason) == (status, reason)
            assert caught.value.reason not in REPLAYABLE_REASONS
    stats = await simulator_admin.stats()
    assert stats.total_requests == 3
    assert (stats["status_3002"], stats["status_3206"], stats["status_3208"]) == (1, 1, 1)


async def test_request_too_large_is_3209(sample_images: SampleImages) -> None:
    data = sample_images.read(sample_images.known[0])
    async with (
        start_simulator(max_request_bytes=len(data) // 2) as sim,
        photodna_client(sim) as client,
    ):
        with pytest.raises(RejectedByPhotoDNA) as caught:
            await client.match(ImageBytes(data, "image/png"))
    assert (caught.value.status_code, caught.value.reason) == (3209, ReasonCode.REQUEST_TOO_LARGE)


async def test_wrong_key_is_an_authentication_error_without_retry(
    simulator: RunningSimulator, simulator_admin: SimulatorAdmin, sample_images: SampleImages
) -> None:
    wrong_key = "not-the-right-key-4e2a"
    async with photodna_client(simulator, key=wrong_key) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.match(InlineImage(sample_images.read(sample_images.known[0])))
    assert caught.value.status_code == 401
    assert wrong_key not in str(caught.value) and wrong_key not in repr(caught.value)
    assert (await simulator_admin.stats())["http_401"] == 1


# -- transient failures: retried, then given up ---------------------------------------------------


async def test_status_3004_is_transient_and_retried_up_to_max_attempts(
    simulator: RunningSimulator, simulator_admin: SimulatorAdmin, sample_images: SampleImages
) -> None:
    await simulator_admin.set_faults(status_3004_rate=1.0)
    async with photodna_client(simulator) as client:
        with pytest.raises(TransientError) as caught:
            await client.match(InlineImage(sample_images.read(sample_images.known[0])))
    assert "3004" in str(caught.value)
    assert (await simulator_admin.stats())["status_3004"] == FAST_RETRIES.max_attempts


async def test_5xx_is_retried_and_a_later_success_counts_its_attempts(
    sample_images: SampleImages,
) -> None:
    image = InlineImage(sample_images.read(sample_images.known[0]))
    patient = RetryPolicy(max_attempts=10, base_s=0.01, cap_s=0.05)
    async with (
        start_simulator(quota_rps=1000) as sim,  # quick retries must not meet the quota
        SimulatorAdmin(sim.admin_url) as admin,
    ):
        await admin.set_faults(error_5xx_rate=1.0)
        async with photodna_client(sim) as client:
            with pytest.raises(TransientError, match="HTTP 5"):
                await client.match(image)
        assert (await admin.stats())["http_5xx"] == FAST_RETRIES.max_attempts

        await admin.set_faults(error_5xx_rate=0.5)  # seeded: the same sequence every run
        await admin.reset_stats()
        async with photodna_client(sim, retry=patient) as client:
            results = [await client.match(image) for _ in range(5)]
        stats = await admin.stats()
    assert all(r.is_match for r in results)
    assert sum(r.attempts for r in results) == stats.total_requests
    assert stats["http_5xx"] == stats.total_requests - 5 > 0


async def test_timeouts_are_transient(
    simulator: RunningSimulator, simulator_admin: SimulatorAdmin, sample_images: SampleImages
) -> None:
    image = InlineImage(sample_images.read(sample_images.known[0]))
    # the client gives up first ...
    await simulator_admin.set_faults(timeout_rate=1.0, timeout_s=60)
    async with photodna_client(simulator, read_timeout_s=0.3) as client:
        with pytest.raises(TransientError, match="Timeout"):
            await client.match(image)
    # ... or the server drops the connection without an answer
    await simulator_admin.set_faults(timeout_rate=1.0, timeout_s=0.05)
    async with photodna_client(simulator) as client:
        with pytest.raises(TransientError):
            await client.match(image)
    assert (await simulator_admin.stats())["timeout"] == 2 * FAST_RETRIES.max_attempts


async def test_retry_after_is_honoured(sample_images: SampleImages) -> None:
    """Quota 0.5 rps: after one call the gateway asks for 2 s. A client that retried sooner
    would meet more 429s and run out of its 3 attempts."""
    image = InlineImage(sample_images.read(sample_images.known[0]))
    async with start_simulator(quota_rps=0.5) as sim, photodna_client(sim) as client:
        first = await client.match(image)
        second = await client.match(image)
        async with SimulatorAdmin(sim.admin_url) as admin:
            stats = await admin.stats()
    assert (first.attempts, second.attempts) == (1, 2)
    assert (stats["http_429"], stats["ok_match"]) == (1, 2)


async def test_429_storm_is_waited_out(
    simulator: RunningSimulator, simulator_admin: SimulatorAdmin, sample_images: SampleImages
) -> None:
    await simulator_admin.set_faults(storm_429_s=1.0)
    async with photodna_client(simulator) as client:
        result = await client.match(InlineImage(sample_images.read(sample_images.known[0])))
    assert (result.is_match, result.attempts) == (True, 2)
    assert (await simulator_admin.stats())["http_429"] == 1


async def test_429_after_the_last_attempt_is_rate_limited_error(
    simulator: RunningSimulator, simulator_admin: SimulatorAdmin, sample_images: SampleImages
) -> None:
    await simulator_admin.set_faults(storm_429_s=600)
    single_try = RetryPolicy(max_attempts=1, base_s=0.01, cap_s=0.05)
    async with photodna_client(simulator, retry=single_try) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.match(InlineImage(sample_images.read(sample_images.known[0])))
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1


# -- outages: the breaker -------------------------------------------------------------------------


async def test_open_breaker_fails_fast_without_calling(
    simulator: RunningSimulator, simulator_admin: SimulatorAdmin, sample_images: SampleImages
) -> None:
    image = InlineImage(sample_images.read(sample_images.known[0]))
    await simulator_admin.set_faults(outage=True)
    async with photodna_client(simulator) as client:
        breaker = client.breaker = CircuitBreaker(2, 60, probe=Canary(client).answers)
        with pytest.raises(TransientError):
            await client.match(image, fail_fast=True)
        await eventually(lambda: breaker.state is BreakerState.OPEN, within=10, what="open")
        calls_when_open = (await simulator_admin.stats()).total_requests
        with pytest.raises(CircuitOpenError):
            await client.match(image, fail_fast=True)
        assert (await simulator_admin.stats()).total_requests == calls_when_open
    # The event's calls (its last one may find the breaker open already), then the canary's.
    stats = await simulator_admin.stats()
    assert client.probe_calls == CANARY_ATTEMPTS
    event_calls = stats["http_5xx"] - CANARY_ATTEMPTS
    assert 2 <= event_calls <= FAST_RETRIES.max_attempts, stats


async def test_an_outage_pauses_the_call_and_it_completes_after_recovery(
    simulator: RunningSimulator, simulator_admin: SimulatorAdmin, sample_images: SampleImages
) -> None:
    image = InlineImage(sample_images.read(sample_images.known[0]))
    await simulator_admin.set_faults(outage=True)
    patient = RetryPolicy(max_attempts=100, base_s=0.01, cap_s=0.05)
    async with photodna_client(simulator, retry=patient) as client:
        client.breaker = CircuitBreaker(2, 0.05, max_reset_s=0.1, probe=Canary(client).answers)
        call = asyncio.create_task(client.match(image))
        await eventually(
            lambda: simulator.simulator.stats.snapshot()["http_5xx"] >= 3,
            within=20,
            what="the client probing the outage",
        )
        assert not call.done()
        await simulator_admin.set_faults()
        async with asyncio.timeout(30):
            result = await call
    assert result.is_match
    stats = await simulator_admin.stats()
    # Every event attempt and every answered probe reached the simulator, and nothing else
    # did; a probe cancelled between its token and its send is counted but never arrives.
    answered_probes = sum(n for (caller, _), n in client.answers.items() if caller == "probe")
    sent = result.attempts + answered_probes
    assert sent <= stats.total_requests <= result.attempts + client.probe_calls


# -- quota: many callers, one client, no 429 ------------------------------------------------------


async def test_many_concurrent_callers_stay_within_the_quota(
    simulator: RunningSimulator, simulator_admin: SimulatorAdmin, sample_images: SampleImages
) -> None:
    """100 calls from 50 tasks through one client limited to 10 rps, against a 10 rps quota."""
    known = InlineImage(sample_images.read(sample_images.known[2]))
    unknown = InlineImage(sample_images.read(sample_images.unknown[2]))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(100):
        queue.put_nowait(number)
    verdicts: dict[int, bool] = {}

    async def caller(client: PhotoDNAClient) -> None:
        while not queue.empty():
            number = queue.get_nowait()
            result = await client.match(known if number % 2 else unknown)
            verdicts[number] = result.is_match

    limiter = RateLimiter(10.0)
    async with photodna_client(simulator, rate_limiter=limiter) as client:
        await asyncio.gather(*(caller(client) for _ in range(50)))
    stats = await simulator_admin.stats()
    assert stats["http_429"] == 0
    assert (stats["ok_match"], stats["ok_clear"], stats.total_requests) == (50, 50, 100)
    assert verdicts == {number: bool(number % 2) for number in range(100)}


# -- bytes mode: the fetcher downloads, the client sends bytes ------------------------------------


@pytest.mark.parametrize("mode", [DeliveryMode.URL, DeliveryMode.BYTES])
async def test_matcher_in_both_delivery_modes(
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    image_server: ImageServer,
    sample_images: SampleImages,
    mode: DeliveryMode,
) -> None:
    media = MediaSettings(delivery_mode=mode, allow_hosts=["127.0.0.1"])
    fetcher = ImageFetcher(media) if mode is DeliveryMode.BYTES else None
    async with photodna_client(simulator) as client:
        matcher = PhotoDNAMatcher(client, delivery_mode=mode, fetcher=fetcher, enhance=False)
        try:
            hit = await matcher.match(MediaRef(image_server.url(sample_images.degraded[4])))
            miss = await matcher.match(MediaRef(image_server.url(sample_images.unknown[0])))
        finally:
            await matcher.aclose()
    assert_near_match(hit.flags, "100005")
    assert miss.is_match is False
    assert (await simulator_admin.stats()).total_requests == 2


# -- Report ---------------------------------------------------------------------------------------


async def test_report_reaches_the_simulator_as_a_test_report(
    simulator: RunningSimulator, simulator_admin: SimulatorAdmin, sample_images: SampleImages
) -> None:
    image = sample_images.read(sample_images.known[0])
    request = ReportRequest(
        org_name="Example Org",
        reporter_name="Trust Team",
        reporter_email="trust@example.org",
        incident_time=datetime(2024, 6, 11, 21, 8, 14, tzinfo=UTC),
        reportee_name="uploader-1",
        reportee_ip_address="192.0.2.7",
        violation_content_collection=[ViolationContent(name="upload.png", value=image)],
    )
    async with photodna_client(simulator) as client:
        result = await client.report(
            request, ncmec_username="org-user", ncmec_password=SecretStr(NCMEC_PASSWORD)
        )
    [received] = await simulator_admin.reports()
    assert (result.status_code, result.report_id) == (3000, received.report_id)
    assert result.tracking_id == received.tracking_id
    assert (received.has_x_usr, received.has_x_pwd, received.is_test) == (True, True, True)
    assert received.body["IncidentTime"] == "6/11/2024 9:08:14 PM"
    assert received.body["ViolationContentCollection"][0]["ValueBytes"] == len(image)


# -- secrets --------------------------------------------------------------------------------------


async def test_subscription_key_never_appears_in_logs_reprs_or_errors(
    simulator: RunningSimulator,
    simulator_admin: SimulatorAdmin,
    image_server: ImageServer,
    sample_images: SampleImages,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "streams"):
        caplog.set_level(logging.DEBUG, logger=name)
    image = InlineImage(sample_images.read(sample_images.known[0]))
    errors: list[HashgateError] = []
    single_try = RetryPolicy(max_attempts=1, base_s=0.01, cap_s=0.05)
    async with photodna_client(simulator, retry=single_try) as client:
        texts = [repr(client), repr(await client.match(image))]
        for faults in (
            FaultConfig(error_5xx_rate=1.0),
            FaultConfig(status_3004_rate=1.0),
            FaultConfig(storm_429_s=600),
            FaultConfig(timeout_rate=1.0, timeout_s=0.05),
        ):
            await simulator_admin.set_faults(faults)
            with pytest.raises(HashgateError) as caught:
                await client.match(image)
            errors.append(caught.value)
        await simulator_admin.set_faults()
        with pytest.raises(RejectedByPhotoDNA) as rejected:
            await client.match(ImageUrl(image_server.url("missing.png")))
        errors.append(rejected.value)
        await client.report(
            ReportRequest(
                org_name="o",
                reporter_name="r",
                reporter_email="r@example.org",
                incident_time=datetime.now(UTC),
                reportee_name="x",
                reportee_ip_address="192.0.2.1",
                violation_content_collection=[ViolationContent(name="a.png", value=image.data)],
            ),
            ncmec_username="org-user",
            ncmec_password=SecretStr(NCMEC_PASSWORD),
        )
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [caplog.text, (await simulator_admin.stats()).model_dump_json()]
    assert len(caplog.records) > 0  # the capture did see the HTTP traffic
    for text in texts:
        assert SIMULATOR_KEY not in text
        assert NCMEC_PASSWORD not in text
