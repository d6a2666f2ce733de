"""The raw PhotoDNA Cloud Service client: HTTP, retries, quota and the breaker, nothing else.

One ``httpx.AsyncClient`` with pooled keep-alive connections serves every task of a worker;
its connections are aiohttp's (see ``transport``), whose pool stays cheap with many calls in flight.
Each HTTP call, retries included, first waits for the circuit breaker and then for a token from
the subscription key's rate limiter; ``max_attempts`` counts HTTP calls only, so time spent
waiting on an open breaker uses none of them.

While the breaker is open, ``match()`` and ``report()`` wait (they do not raise), which is what
lets a worker pause through an outage instead of draining into the DLQ. Pass ``fail_fast=True``
to get CircuitOpenError at once instead. ``probe()`` is the breaker's own health probe (the
canary): it never waits on the breaker nor reports to it, but takes rate-limiter tokens.

``answers`` counts every answer by caller (``event`` or ``probe``) and Status code
(``http_<code>`` or ``unreadable`` when it has none), ``probe_calls`` the probe's HTTP calls
(answered or not), and ``retries`` the calls retried per lane, counted when the retry is decided
(so they rise during an outage too), for the worker's metrics.

The subscription key and the NCMEC password travel only in request headers: they are not in the
client's repr, and every error leaving the client is scrubbed of them (and of the image URL,
which is replaced by its redacted form) in case a server echoes them back.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from streams.closing import AsyncClosing
from streams.errors import (
    CircuitOpenError,
    ConfigurationError,
    HashgateError,
    RateLimitedError,
    TransientError,
)
from streams.media.redact import redact_url
from streams.photodna.breaker import CircuitBreaker
from streams.photodna.canary import Canary
from streams.photodna.models import (
    ImageBytes,
    ImageInput,
    ImageUrl,
    InlineImage,
    MatchResult,
    ReportRequest,
    ReportResult,
)
from streams.photodna.ratelimit import Lane, RateLimiter
from streams.photodna.responses import STATUS_OK, read_match, read_report, status_label
from streams.photodna.retry import RetryPolicy
from streams.photodna.transport import AiohttpTransport
from streams.settings import PhotoDNASettings

logger = logging.getLogger(__name__)

T = TypeVar("T")

KEY_HEADER = "Ocp-Apim-Subscription-Key"

#: HTTP answers that do not count as "the quota was fine" for the rate limiter's recovery.
_THROTTLE_OR_ERROR = frozenset({429, *range(500, 600)})


def _match_body(image: ImageInput) -> dict[str, Any]:
    """``build_request`` arguments for each way of handing over the image."""
    match image:
        case ImageUrl(url=url):
            return {"json": {"DataRepresentation": "URL", "Value": url}}
        case InlineImage(data=data):
            encoded = base64.b64encode(data).decode("ascii")
            return {"json": {"DataRepresentation": "inline", "Value": encoded}}
        case ImageBytes(data=data, content_type=content_type):
            return {"content": data, "headers": {"Content-Type": content_type}}
    raise TypeError(f"not an ImageInput: {type(image).__name__}")


class _Scrubber:
    """Removes secrets from error messages, and shortens URLs to their redacted form.

    Made for every call but used only when one fails, so the URLs are redacted only then.
    """

    def __init__(self, secrets: list[SecretStr], urls: list[str]) -> None:
        self._secrets = secrets
        self._urls = urls

    def scrub(self, exc: HashgateError) -> None:
        text = str(exc)
        replacements = [(s.get_secret_value(), "[redacted]") for s in self._secrets]
        replacements += [(url, redact_url(url)) for url in self._urls]
        for needle, replacement in replacements:
            if needle:
                text = text.replace(needle, replacement)
        exc.args = (text,)


@dataclass(frozen=True, slots=True)
class _Cost:
    attempts: int  # HTTP calls made, retries included
    api_seconds: float  # time in those calls
    quota_seconds: float  # time waiting for rate-limiter tokens


class PhotoDNAClient(AsyncClosing):
    """Match and Report over one pooled connection pool; see the module docstring."""

    def __init__(
        self,
        *,
        endpoint: str,
        subscription_key: SecretStr,
        timeout: httpx.Timeout,
        max_connections: int,
        transport: httpx.AsyncBaseTransport | None = None,
        rate_limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._key = subscription_key
        self.rate_limiter = rate_limiter
        self.breaker = breaker
        self.retry = retry if retry is not None else RetryPolicy()
        self._transport = transport or AiohttpTransport(max_connections=max_connections)
        self._timeouts = {"timeout": timeout.as_dict()}
        self._match_urls = {
            enhance: httpx.URL(f"{self._endpoint}/Match", params={"enhance": str(enhance).lower()})
            for enhance in (False, True)
        }
        self._report_url = httpx.URL(f"{self._endpoint}/Report")
        self.answers: Counter[tuple[str, str]] = Counter()
        self.probe_calls = 0
        self.retries: Counter[str] = Counter()

    @classmethod
    def from_settings(
        cls,
        settings: PhotoDNASettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rescan_floor_rps: float = 0.0,
    ) -> PhotoDNAClient:
        """A client with the process-wide rate limiter of its key, a breaker and retries."""
        key = settings.subscription_key
        if key is None or not key.get_secret_value():
            raise ConfigurationError("HASHGATE_PHOTODNA__SUBSCRIPTION_KEY is not set")
        try:
            rate_limiter = RateLimiter.for_key(
                key, settings.key_quota_rps, rescan_floor_rps=rescan_floor_rps
            )
        except ValueError as exc:
            raise ConfigurationError(f"HASHGATE_SCAN__RESCAN_FLOOR_RPS: {exc}") from None
        client = cls(
            endpoint=str(settings.endpoint),
            subscription_key=key,
            timeout=httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
            max_connections=settings.max_connections,
            transport=transport,
            rate_limiter=rate_limiter,
            retry=RetryPolicy(
                settings.max_attempts, settings.backoff_base_s, settings.backoff_cap_s
            ),
        )
        client.breaker = CircuitBreaker(
            settings.breaker_failure_threshold,
            settings.breaker_reset_s,
            probe=Canary(client).answers,
        )
        return client

    def __repr__(self) -> str:
        return f"PhotoDNAClient(endpoint={self._endpoint!r})"

    async def aclose(self) -> None:
        if self.breaker is not None:
            self.breaker.close()
        await self._transport.aclose()

    async def match(
        self,
        image: ImageInput,
        *,
        enhance: bool = False,
        lane: Lane = Lane.LIVE,
        fail_fast: bool = False,
    ) -> MatchResult:
        """Check one image. Returns only for Status 3000; everything else raises.

        Raises RejectedByPhotoDNA (permanent), AuthenticationError / ConfigurationError (stop
        the worker), TransientError or RateLimitedError once ``max_attempts`` calls failed, and
        CircuitOpenError only with ``fail_fast``.
        """
        return await self._match(
            image, enhance=enhance, lane=lane, fail_fast=fail_fast, guarded=True, retry=self.retry
        )

    async def probe(self, image: ImageInput, *, attempts: int) -> MatchResult:
        """A Match call for the breaker's health probe: up to ``attempts`` calls, rate-limited
        on the live lane, neither waiting on the breaker nor counted by it."""
        retry = replace(self.retry, max_attempts=attempts)
        return await self._match(
            image, enhance=False, lane=Lane.LIVE, fail_fast=False, guarded=False, retry=retry
        )

    async def _match(
        self,
        image: ImageInput,
        *,
        enhance: bool,
        lane: Lane,
        fail_fast: bool,
        guarded: bool,
        retry: RetryPolicy,
    ) -> MatchResult:
        request = self._post(self._match_urls[enhance], **_match_body(image))
        urls = [image.url] if isinstance(image, ImageUrl) else []
        (is_match, flags, status), cost = await self._call(
            "Match",
            request,
            read_match,
            lane=lane,
            fail_fast=fail_fast,
            scrubber=_Scrubber([self._key], urls),
            guarded=guarded,
            retry=retry,
        )
        return MatchResult(
            is_match=is_match,
            flags=flags,
            tracking_id=status.tracking_id or "",
            status_code=status.code,
            status_description=status.description,
            attempts=cost.attempts,
            api_seconds=cost.api_seconds,
            quota_seconds=cost.quota_seconds,
        )

    async def report(
        self,
        request: ReportRequest,
        *,
        ncmec_username: str,
        ncmec_password: SecretStr,
        is_test: bool = True,
        fail_fast: bool = False,
    ) -> ReportResult:
        """File a report to NCMEC through PhotoDNA; ``is_test`` (the default) uses NCMEC's test
        environment.

        Retried like Match. A POST that timed out may still have been filed, so a retry can
        file the same report twice: NCMEC prefers a duplicate to a missing report.
        """
        http_request = self._post(
            self._report_url,
            json=request.to_body(is_test=is_test),
            headers={"x-usr": ncmec_username, "x-pwd": ncmec_password.get_secret_value()},
        )
        (report_id, status), cost = await self._call(
            "Report",
            http_request,
            read_report,
            lane=Lane.LIVE,
            fail_fast=fail_fast,
            scrubber=_Scrubber([self._key, ncmec_password], []),
            guarded=True,
            retry=self.retry,
        )
        return ReportResult(
            status_code=status.code,
            status_description=status.description,
            tracking_id=status.tracking_id or "",
            report_id=report_id,
            attempts=cost.attempts,
            api_seconds=cost.api_seconds,
        )

    # -- the attempt loop --------------------------------------------------------------------

    async def _call(
        self,
        operation: str,
        request: httpx.Request,
        read: Callable[[httpx.Response], T],
        *,
        lane: Lane,
        fail_fast: bool,
        scrubber: _Scrubber,
        guarded: bool,
        retry: RetryPolicy,
    ) -> tuple[T, _Cost]:
        """The answer and what it cost, retrying transient failures; ``guarded`` calls wait on
        the breaker and report to it."""
        breaker = self.breaker if guarded else None
        attempts = 0
        elapsed = 0.0
        quota = 0.0
        while True:
            granted_at: float | None = None
            try:
                if breaker is not None:
                    await _wait_for_breaker(breaker, operation, fail_fast)
                with _breaker_outcome(breaker):
                    asked = time.perf_counter()
                    granted_at = await self._acquire(lane)
                    quota += time.perf_counter() - asked
                    attempts += 1
                    if not guarded:
                        self.probe_calls += 1
                    started = time.perf_counter()
                    try:
                        response = await self._send(operation, request)
                    finally:
                        elapsed += time.perf_counter() - started
                    if (
                        self.rate_limiter is not None
                        and response.status_code not in _THROTTLE_OR_ERROR
                    ):
                        self.rate_limiter.on_success()
                    answer = self._read(read, response, "event" if guarded else "probe")
                    return answer, _Cost(attempts, elapsed, quota)
            except HashgateError as exc:
                scrubber.scrub(exc)
                if isinstance(exc, RateLimitedError) and self.rate_limiter is not None:
                    self.rate_limiter.on_throttled(exc.retry_after, granted_at=granted_at)
                if not _retryable(exc, attempts, retry):
                    if isinstance(exc, TransientError) and attempts >= retry.max_attempts:
                        exc.args = (f"{exc} (gave up after {attempts} attempts)",)
                    raise
                retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
                delay = retry.backoff(attempts - 1, retry_after)
                self.retries[lane.value] += 1
                logger.warning(
                    "%s (attempt %d of %d); retrying in %.2fs",
                    exc,
                    attempts,
                    retry.max_attempts,
                    delay,
                )
                await retry.sleep(delay)

    def _read(
        self, read: Callable[[httpx.Response], T], response: httpx.Response, caller: str
    ) -> T:
        """``read(response)``, counting the answer by its Status code either way."""
        try:
            answer = read(response)
        except HashgateError:
            self.answers[caller, status_label(response)] += 1
            raise
        self.answers[caller, str(STATUS_OK)] += 1
        return answer

    async def _acquire(self, lane: Lane) -> float | None:
        return None if self.rate_limiter is None else await self.rate_limiter.acquire(lane)

    def _post(
        self, url: httpx.URL, *, headers: dict[str, str] | None = None, **body: Any
    ) -> httpx.Request:
        """A keyed POST for the transport; no cookies, redirects or default headers to merge."""
        return httpx.Request(
            "POST",
            url,
            headers={KEY_HEADER: self._key.get_secret_value(), **(headers or {})},
            extensions=self._timeouts,
            **body,
        )

    async def _send(self, operation: str, request: httpx.Request) -> httpx.Response:
        """One HTTP call; network failures become TransientError (a bad endpoint, config).

        Straight to the transport: ``httpx.AsyncClient.send`` would add URL merging, cookie
        extraction and redirect handling, none of which PhotoDNA calls use, at a cost the
        profile showed to be larger than the HTTP exchange itself.
        """
        try:
            response = await self._transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
            return response
        except httpx.UnsupportedProtocol:
            raise ConfigurationError(
                f"PhotoDNA {operation}: endpoint {self._endpoint!r} is not an http(s) URL"
            ) from None
        except httpx.TimeoutException as exc:
            raise TransientError(f"PhotoDNA {operation}: {type(exc).__name__}") from None
        except httpx.RequestError as exc:
            raise TransientError(f"PhotoDNA {operation}: {type(exc).__name__}: {exc}") from None


def _retryable(exc: HashgateError, attempts: int, retry: RetryPolicy) -> bool:
    if not isinstance(exc, TransientError) or isinstance(exc, CircuitOpenError):
        return False
    return attempts < retry.max_attempts


async def _wait_for_breaker(breaker: CircuitBreaker, operation: str, fail_fast: bool) -> None:
    if not fail_fast:
        await breaker.wait_until_callable()
    elif not breaker.allow():
        raise CircuitOpenError(f"PhotoDNA {operation}: circuit breaker is open, not called")


@contextmanager
def _breaker_outcome(breaker: CircuitBreaker | None) -> Iterator[None]:
    """Reports each attempt to the breaker once: transient failures count toward a health
    probe; a 429 or a cancelled call tells nothing; anything else proves the service answers."""
    if breaker is None:
        yield
        return
    try:
        yield
    except RateLimitedError:
        raise
    except TransientError:
        breaker.record_failure()
        raise
    except HashgateError:
        breaker.record_success()
        raise
    else:
        breaker.record_success()
