"""The seam the scan agent talks to: "is this upload's image a known match?", nothing about HTTP.

Keeping the scan agent on a ``Matcher`` protocol lets tests and other signal types stand in for
PhotoDNA. ``PhotoDNAMatcher`` adapts the raw client to it and decides how the image travels:
``url`` mode lets PhotoDNA download it (public URLs), ``bytes`` mode downloads it here through
the SSRF-safe fetcher (private or pre-signed URLs) and sends the bytes.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import httpx

from streams.errors import ConfigurationError
from streams.media.fetcher import ImageFetcher
from streams.photodna.api import PhotoDNAClient
from streams.photodna.breaker import CircuitBreaker
from streams.photodna.models import ImageBytes, ImageInput, ImageUrl, MatchResult
from streams.photodna.ratelimit import Lane, RateLimiter
from streams.settings import DeliveryMode, Settings


class MediaRef(NamedTuple):
    """Where an upload's image is, and the MIME type the platform claimed (not trusted)."""

    media_url: str
    media_type: str | None = None


class Matcher(Protocol):
    async def match(self, upload_media: MediaRef, *, lane: Lane) -> MatchResult:
        """A verdict-grade result, or an exception from the ``streams.errors`` tree."""
        ...


class PhotoDNAMatcher:
    """Matcher over PhotoDNA; owns its client and fetcher and closes them in ``aclose()``."""

    def __init__(
        self,
        client: PhotoDNAClient,
        *,
        delivery_mode: DeliveryMode,
        fetcher: ImageFetcher | None,
        enhance: bool,
    ) -> None:
        if delivery_mode is DeliveryMode.BYTES and fetcher is None:
            raise ConfigurationError("delivery mode 'bytes' needs an image fetcher")
        self._client = client
        self._delivery_mode = delivery_mode
        self._fetcher = fetcher
        self.enhance = enhance

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        media_transport: httpx.AsyncBaseTransport | None = None,
    ) -> PhotoDNAMatcher:
        """Client, rate limiter (with the rescan floor), breaker and fetcher from settings."""
        client = PhotoDNAClient.from_settings(
            settings.photodna,
            transport=transport,
            rescan_floor_rps=settings.scan.rescan_floor_rps,
        )
        mode = settings.media.delivery_mode
        fetcher = (
            ImageFetcher(settings.media, transport=media_transport)
            if mode is DeliveryMode.BYTES
            else None
        )
        return cls(client, delivery_mode=mode, fetcher=fetcher, enhance=settings.photodna.enhance)

    def __repr__(self) -> str:
        return (
            f"PhotoDNAMatcher({self._client!r}, delivery_mode={self._delivery_mode.value}, "
            f"enhance={self.enhance})"
        )

    @property
    def client(self) -> PhotoDNAClient:
        return self._client

    @property
    def breaker(self) -> CircuitBreaker | None:
        return self._client.breaker

    @property
    def rate_limiter(self) -> RateLimiter | None:
        return self._client.rate_limiter

    @property
    def delivery_mode(self) -> DeliveryMode:
        return self._delivery_mode

    async def match(self, upload_media: MediaRef, *, lane: Lane = Lane.LIVE) -> MatchResult:
        """Raises MediaError (bytes mode) before any PhotoDNA quota is spent on a bad image."""
        image = await self.image_for(upload_media)
        return await self.match_image(image, lane=lane)

    async def match_image(self, image: ImageInput, *, lane: Lane = Lane.LIVE) -> MatchResult:
        """One PhotoDNA call for an image already at hand (the quota savers fetch first)."""
        return await self._client.match(image, enhance=self.enhance, lane=lane)

    async def image_for(self, upload_media: MediaRef) -> ImageInput:
        """The URL itself in ``url`` mode, the fetched bytes in ``bytes`` mode."""
        if self._fetcher is None:
            return ImageUrl(upload_media.media_url)
        fetched = await self._fetcher.fetch(upload_media.media_url)
        return ImageBytes(fetched.data, fetched.content_type)

    async def aclose(self) -> None:
        try:
            await self._client.aclose()
        finally:
            if self._fetcher is not None:
                await self._fetcher.aclose()
