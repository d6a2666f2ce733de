"""Turning a Match request into image bytes, or into the refusal the service would give.

Three body forms, as the service takes them: JSON with a URL (the simulator downloads it, like
the service does), JSON with inline base64, or the raw bytes with an image Content-Type.

A URL that cannot be downloaded (no answer, an error status, a timeout) is answered with
Status 3002: the service has no dedicated code for it, and the request's parameter is what is
wrong from its point of view. Clients must therefore not assume 3002 always means their own bug.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from yarl import URL

from streams.simulator.protocol import Refusal, StatusCode

IMAGE_CONTENT_TYPES = frozenset({"image/gif", "image/jpeg", "image/png", "image/bmp", "image/tiff"})


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    max_request_bytes: int
    max_image_bytes: int
    url_fetch_timeout_s: float


def _invalid(detail: str) -> Refusal:
    return Refusal(StatusCode.INVALID_PARAMETER, detail)


def parse_enhance(value: str | None) -> bool | Refusal:
    """``enhance`` is optional and defaults to false; anything but true/false is refused."""
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return _invalid("enhance must be true or false")


class UrlFetcher:
    """Downloads an image URL with a time limit and a byte cap, as the service would."""

    def __init__(self, limits: IntakeLimits) -> None:
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._limits.url_fetch_timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str) -> bytes | Refusal:
        if self._session is None:
            raise RuntimeError("UrlFetcher.start() was not awaited")
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            return _invalid("Value must be an absolute http(s) URL")
        cap = self._limits.max_image_bytes
        try:
            async with self._session.get(parsed, allow_redirects=True, max_redirects=5) as resp:
                if resp.status != 200:
                    return _invalid(f"the image URL answered HTTP {resp.status}")
                data = await read_capped(resp.content, cap)
        except (aiohttp.ClientError, TimeoutError):
            return _invalid("the image URL could not be downloaded")
        if data is None:
            return Refusal(StatusCode.IMAGE_SIZE_OUT_OF_RANGE, f"image is larger than {cap} bytes")
        return data


async def read_capped(stream: aiohttp.StreamReader, cap: int) -> bytes | None:
    """The whole stream, or None as soon as it grows past ``cap`` (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: web.Request, max_bytes: int) -> bytes | Refusal:
    """The body, unless it is larger than the cap (checked before reading when announced)."""
    too_large = Refusal(StatusCode.REQUEST_TOO_LARGE, f"request body over {max_bytes} bytes")
    if request.content_length is not None:
        return too_large if request.content_length > max_bytes else await request.read()
    body = await read_capped(request.content, max_bytes)
    return too_large if body is None else body


async def requested_url(request: web.Request) -> str | None:
    """The image URL of a JSON URL request (the body is read once and cached by aiohttp)."""
    if request.content_type.lower() != "application/json":
        return None
    try:
        document = json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    value = document.get("Value")
    representation = document.get("DataRepresentation")
    is_url = isinstance(representation, str) and representation.lower() == "url"
    return value if is_url and isinstance(value, str) else None


async def image_from_request(
    request: web.Request, limits: IntakeLimits, fetcher: UrlFetcher
) -> bytes | Refusal:
    body = await read_body(request, limits.max_request_bytes)
    if isinstance(body, Refusal):
        return body
    content_type = request.content_type.lower()
    if content_type in IMAGE_CONTENT_TYPES:
        return body if body else _invalid("empty request body")
    if content_type != "application/json":
        return _invalid(f"unsupported Content-Type {content_type or '(none)'}")
    return await _image_from_json(body, fetcher)


async def _image_from_json(body: bytes, fetcher: UrlFetcher) -> bytes | Refusal:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _invalid("the body is not valid JSON")
    if not isinstance(document, dict):
        return _invalid("the body must be a JSON object")
    representation = document.get("DataRepresentation")
    value = document.get("Value")
    if not isinstance(value, str) or not value:
        return _invalid("Value is missing")
    if not isinstance(representation, str):
        return _invalid("DataRepresentation is missing")
    match representation.lower():
        case "url":
            return await fetcher.fetch(value)
        case "inline":
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return _invalid("Value is not valid base64")
        case _:
            return _invalid("DataRepresentation must be URL or inline")
