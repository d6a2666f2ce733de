"""The Matcher seam and the package's public names."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr

import streams.photodna as photodna
from streams.errors import ConfigurationError, MediaError, ReasonCode
from streams.media.fetcher import ImageFetcher
from streams.photodna import (
    ImageBytes,
    ImageUrl,
    InlineImage,
    Lane,
    MediaRef,
    PhotoDNAClient,
    PhotoDNAMatcher,
    RetryPolicy,
)
from streams.settings import DeliveryMode, MediaSettings, Settings

pytestmark = pytest.mark.unit

OK = {
    "Status": {"Code": 3000, "Description": "OK"},
    "IsMatch": False,
    "MatchDetails": {"MatchFlags": []},
    "TrackingId": "T-1",
}


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 200), "navy").save(out, format="PNG")
    return out.getvalue()


class PhotoDNA:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=OK)


def client(server: PhotoDNA) -> PhotoDNAClient:
    return PhotoDNAClient(
        endpoint="https://photodna.test",
        subscription_key=SecretStr("matcher-key"),
        timeout=httpx.Timeout(5.0),
        max_connections=1,
        transport=httpx.MockTransport(server),
        retry=RetryPolicy(1),
    )


async def test_url_mode_lets_photodna_download() -> None:
    server = PhotoDNA()
    matcher = PhotoDNAMatcher(
        client(server), delivery_mode=DeliveryMode.URL, fetcher=None, enhance=True
    )

    result = await matcher.match(
        MediaRef("https://cdn.example.com/a.jpg", "image/jpeg"), lane=Lane.LIVE
    )
    await matcher.aclose()

    assert result.is_match is False
    (request,) = server.requests
    assert json.loads(request.content) == {
        "DataRepresentation": "URL",
        "Value": "https://cdn.example.com/a.jpg",
    }
    assert request.url.params["enhance"] == "true"


async def test_bytes_mode_fetches_and_sends_the_sniffed_type() -> None:
    server = PhotoDNA()
    image = png()
    media = httpx.MockTransport(
        lambda _r: httpx.Response(200, content=image, headers={"Content-Type": "image/jpeg"})
    )
    fetcher = ImageFetcher(MediaSettings(delivery_mode=DeliveryMode.BYTES), transport=media)
    matcher = PhotoDNAMatcher(
        client(server), delivery_mode=DeliveryMode.BYTES, fetcher=fetcher, enhance=False
    )

    await matcher.match(
        MediaRef("https://private.example.com/a.jpg", "image/jpeg"), lane=Lane.RESCAN
    )
    await matcher.aclose()

    (request,) = server.requests
    assert request.headers["Content-Type"] == "image/png"
    assert request.content == image


async def test_bytes_mode_refuses_bad_media_before_spending_quota() -> None:
    server = PhotoDNA()
    media = httpx.MockTransport(lambda _r: httpx.Response(200, content=b"<html>login</html>"))
    fetcher = ImageFetcher(MediaSettings(delivery_mode=DeliveryMode.BYTES), transport=media)
    matcher = PhotoDNAMatcher(
        client(server), delivery_mode=DeliveryMode.BYTES, fetcher=fetcher, enhance=False
    )

    with pytest.raises(MediaError) as caught:
        await matcher.match(MediaRef("https://private.example.com/a.jpg"), lane=Lane.LIVE)
    await matcher.aclose()

    assert caught.value.reason is ReasonCode.NOT_AN_IMAGE
    assert server.requests == []


def test_bytes_mode_needs_a_fetcher() -> None:
    with pytest.raises(ConfigurationError):
        PhotoDNAMatcher(
            client(PhotoDNA()), delivery_mode=DeliveryMode.BYTES, fetcher=None, enhance=False
        )


async def test_from_settings_exposes_breaker_and_limiter() -> None:
    # That PhotoDNAMatcher is a Matcher is mypy's to check, where the worker hands it to
    # ScanService (streams/worker.py); an assignment here could not fail.
    settings = Settings(
        photodna={"subscription_key": "settings-matcher-key", "key_quota_rps": 6},
        media={"delivery_mode": "bytes"},
        scan={"rescan_floor_rps": 2},
    )

    matcher = PhotoDNAMatcher.from_settings(settings)

    assert matcher.delivery_mode is DeliveryMode.BYTES
    assert matcher.breaker is not None
    assert matcher.rate_limiter is not None
    assert matcher.rate_limiter.configured_rate == 6
    assert matcher.rate_limiter.rescan_floor_rps == 2
    assert "settings-matcher-key" not in repr(matcher)
    await matcher.aclose()


def test_image_inputs_keep_bytes_and_urls_out_of_reprs() -> None:
    texts = [
        repr(ImageUrl("https://cdn.example.com/private/alice.jpg?sig=s3cr3t")),
        repr(ImageBytes(b"secret-pixels", "image/png")),
        repr(InlineImage(b"secret-pixels")),
    ]
    for text in texts:
        assert "alice" not in text and "s3cr3t" not in text and "secret-pixels" not in text


def _export_order(name: str) -> tuple[int, str]:
    """isort's order, which ruff's RUF022 enforces: CONSTANTS, then Classes, then functions."""
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


def test_public_names_are_exported_and_sorted() -> None:
    assert photodna.__all__ == sorted(photodna.__all__, key=_export_order)
    public = {name for name in vars(photodna) if not name.startswith("_")}
    modules = {
        "api",
        "breaker",
        "canary",
        "matcher",
        "models",
        "ratelimit",
        "responses",
        "retry",
        "transport",
    }
    assert public - modules == set(photodna.__all__)
