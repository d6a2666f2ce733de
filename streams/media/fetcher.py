"""Downloads an upload's image for delivery mode ``bytes``, where PhotoDNA cannot reach the URL.

The URL comes from an event, so it is untrusted input: every hop of a redirect chain is checked
by the SSRF policy (and again at connect time, see ``network``), the download is capped in bytes
and in time, and what arrives must be an image PhotoDNA accepts before any quota is spent.
Errors name the URL only in redacted form.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import httpx

from streams.closing import AsyncClosing
from streams.errors import MediaError, ReasonCode
from streams.media.addresses import AddressPolicy
from streams.media.images import MAX_IMAGE_BYTES, fit_to_limits
from streams.media.network import Resolver, guarded_transport, system_resolver
from streams.observability.redact import redact_url
from streams.settings import MediaSettings

logger = logging.getLogger(__name__)

_HEADERS = {"User-Agent": "hashgate-image-fetcher", "Accept": "image/*"}


@dataclass(frozen=True)
class FetchedImage:
    """Bytes ready to send to PhotoDNA; ``content_type`` comes from the bytes, not the server."""

    data: bytes = field(repr=False)
    content_type: str
    width: int
    height: int


def _error(url: str, message: str, reason: ReasonCode) -> MediaError:
    return MediaError(f"{redact_url(url)}: {message}", reason=reason)


def _describe(exc: httpx.HTTPError) -> str:
    """Connect errors say why (refused, no such host); others could quote the URL, so don't."""
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc}"
    return f"download failed: {type(exc).__name__}"


def _next_hop(current: httpx.URL, location: str) -> str:
    try:
        return str(current.join(location))
    except httpx.InvalidURL:
        raise _error(
            str(current), "redirect to an invalid URL", ReasonCode.MEDIA_UNREACHABLE
        ) from None


class ImageFetcher(AsyncClosing):
    """One pooled HTTP client for all downloads of a worker; close it with ``aclose()``."""

    def __init__(
        self,
        settings: MediaSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = system_resolver,
        max_image_bytes: int = MAX_IMAGE_BYTES,
    ) -> None:
        self._settings = settings
        self._policy = AddressPolicy(settings.allow_hosts)
        self._max_image_bytes = max_image_bytes
        self._http = httpx.AsyncClient(
            transport=transport or guarded_transport(self._policy, resolver=resolver),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(settings.fetch_timeout_s),
            headers=_HEADERS,
        )

    def __repr__(self) -> str:
        return f"ImageFetcher(allow_hosts={list(self._settings.allow_hosts)!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fetch(self, url: str) -> FetchedImage:
        """Download, check and if needed shrink the image; raises MediaError with a reason."""
        try:
            async with asyncio.timeout(self._settings.fetch_timeout_s):
                data = await self._download(url)
        except TimeoutError:
            raise _error(
                url,
                f"download took longer than {self._settings.fetch_timeout_s:g}s",
                ReasonCode.MEDIA_UNREACHABLE,
            ) from None
        try:
            image = await asyncio.to_thread(fit_to_limits, data, max_bytes=self._max_image_bytes)
        except MediaError as exc:
            raise _error(url, str(exc), exc.reason) from None
        return FetchedImage(
            data=image.data, content_type=image.content_type, width=image.width, height=image.height
        )

    def _check_target(self, url: str) -> httpx.URL:
        """The checks possible before connecting; connect time repeats them after DNS."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise _error(url, f"invalid URL: {exc}", ReasonCode.MEDIA_UNREACHABLE) from None
        try:
            self._policy.check_scheme(parsed.scheme)
            self._policy.check_host(parsed.host)
        except MediaError as exc:
            raise _error(url, str(exc), exc.reason) from None
        return parsed

    async def _download(self, url: str) -> bytes:
        current = url
        for _hop in range(self._settings.max_redirects + 1):
            target = self._check_target(current)
            try:
                async with self._http.stream("GET", target) as response:
                    if response.is_redirect:
                        current = _next_hop(target, response.headers["Location"])
                        logger.debug("redirect %s -> %s", redact_url(url), redact_url(current))
                        continue
                    return await self._read_body(current, response)
            except MediaError as exc:
                if exc.reason is ReasonCode.MEDIA_FORBIDDEN_ADDRESS:  # from the connect-time guard
                    raise _error(current, str(exc), exc.reason) from None
                raise
            except httpx.HTTPError as exc:
                raise _error(current, _describe(exc), ReasonCode.MEDIA_UNREACHABLE) from None
        raise _error(
            url,
            f"more than {self._settings.max_redirects} redirects",
            ReasonCode.MEDIA_UNREACHABLE,
        )

    async def _read_body(self, url: str, response: httpx.Response) -> bytes:
        if not response.is_success:
            raise _error(url, f"HTTP {response.status_code}", ReasonCode.MEDIA_UNREACHABLE)
        limit = self._settings.max_fetch_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _error(
                url,
                f"Content-Length {declared} exceeds the {limit}-byte download limit",
                ReasonCode.IMAGE_SIZE_OUT_OF_RANGE,
            )
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                raise _error(
                    url,
                    f"body exceeds the {limit}-byte download limit",
                    ReasonCode.IMAGE_SIZE_OUT_OF_RANGE,
                )
        return bytes(body)
