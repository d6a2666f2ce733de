"""The image fetcher of delivery mode ``bytes``: SSRF refusals, caps, and what it returns."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import os
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from PIL import Image

from streams.errors import MediaError, ReasonCode
from streams.media.addresses import IPAddress
from streams.media.fetcher import ImageFetcher
from streams.media.images import MAX_IMAGE_BYTES
from streams.media.network import Resolver
from streams.settings import DeliveryMode, MediaSettings

pytestmark = pytest.mark.unit

Handler = Callable[[httpx.Request], httpx.Response]


def png(width: int = 200, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, format="PNG")
    return out.getvalue()


def settings(**overrides: object) -> MediaSettings:
    values: dict[str, object] = {"delivery_mode": DeliveryMode.BYTES, **overrides}
    return MediaSettings.model_validate(values)


class Recorder:
    """A MockTransport handler that serves by URL and remembers what was asked."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        self.urls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        return self.routes[str(request.url)](request)


def serve(body: bytes, content_type: str = "image/jpeg") -> Handler:
    return lambda _request: httpx.Response(
        200, content=body, headers={"Content-Type": content_type}
    )


def redirect(location: str, status: int = 302) -> Handler:
    return lambda _request: httpx.Response(status, headers={"Location": location})


def fetcher_for(recorder: Recorder, **overrides: object) -> ImageFetcher:
    return ImageFetcher(settings(**overrides), transport=httpx.MockTransport(recorder))


async def refused(fetcher: ImageFetcher, url: str, reason: ReasonCode) -> MediaError:
    async with fetcher:
        with pytest.raises(MediaError) as caught:
            await fetcher.fetch(url)
    assert caught.value.reason is reason, str(caught.value)
    return caught.value


# -- what a good fetch returns -----------------------------------------------------------------


async def test_returns_bytes_with_the_sniffed_type_not_the_servers() -> None:
    data = png(240, 180)
    recorder = Recorder({"https://cdn.example.com/a.bin": serve(data, "application/octet-stream")})

    async with fetcher_for(recorder) as fetcher:
        image = await fetcher.fetch("https://cdn.example.com/a.bin")

    assert (image.data, image.content_type, image.width, image.height) == (
        data,
        "image/png",
        240,
        180,
    )
    assert "data=" not in repr(image)


async def test_follows_redirects_to_public_hosts() -> None:
    data = png()
    recorder = Recorder(
        {
            "https://short.example/x": redirect("https://cdn.example.com/y", 301),
            "https://cdn.example.com/y": redirect("/z", 307),
            "https://cdn.example.com/z": serve(data),
        }
    )

    async with fetcher_for(recorder) as fetcher:
        image = await fetcher.fetch("https://short.example/x")

    assert image.data == data
    assert recorder.urls[-1] == "https://cdn.example.com/z"


async def test_big_image_is_shrunk_under_4_mb() -> None:
    noise = Image.frombytes("RGB", (1400, 1100), os.urandom(1400 * 1100 * 3))
    out = io.BytesIO()
    noise.save(out, format="PNG")
    big = out.getvalue()
    assert len(big) > MAX_IMAGE_BYTES
    recorder = Recorder({"https://cdn.example.com/big.png": serve(big, "image/png")})

    async with fetcher_for(recorder) as fetcher:
        image = await fetcher.fetch("https://cdn.example.com/big.png")

    assert len(image.data) <= MAX_IMAGE_BYTES
    assert image.content_type == "image/jpeg"
    assert min(image.width, image.height) >= 160


# -- SSRF refusals before any request ----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://cdn.example.com/a.jpg",
        "file:///etc/passwd",
        "gopher://cdn.example.com/",
        "http://127.0.0.1/a.jpg",
        "http://127.0.0.1:6066/metrics",
        "http://10.0.0.7/a.jpg",
        "http://172.20.1.1/a.jpg",
        "http://192.168.0.10/a.jpg",
        "http://100.64.3.2/a.jpg",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::1]/a.jpg",
        "http://[fc00::5]/a.jpg",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/a.jpg",
        "http://[::ffff:127.0.0.1]/a.jpg",
        "http://0.0.0.0/a.jpg",
    ],
)
async def test_forbidden_targets_are_refused_without_a_request(url: str) -> None:
    recorder = Recorder({})

    error = await refused(fetcher_for(recorder), url, ReasonCode.MEDIA_FORBIDDEN_ADDRESS)

    assert recorder.urls == []
    assert "/a.jpg" not in str(error) and "meta-data" not in str(error)


async def test_redirect_to_a_private_address_is_refused_at_that_hop() -> None:
    recorder = Recorder(
        {"https://cdn.example.com/a.jpg": redirect("http://169.254.169.254/latest/meta-data/")}
    )

    await refused(
        fetcher_for(recorder), "https://cdn.example.com/a.jpg", ReasonCode.MEDIA_FORBIDDEN_ADDRESS
    )

    assert recorder.urls == ["https://cdn.example.com/a.jpg"]


async def test_redirect_to_another_scheme_is_refused() -> None:
    recorder = Recorder({"https://cdn.example.com/a.jpg": redirect("file:///etc/passwd")})

    await refused(
        fetcher_for(recorder), "https://cdn.example.com/a.jpg", ReasonCode.MEDIA_FORBIDDEN_ADDRESS
    )


async def test_allow_list_exempts_a_private_host() -> None:
    recorder = Recorder({"http://10.0.0.7/a.png": serve(png())})

    async with fetcher_for(recorder, allow_hosts=["10.0.0.0/24"]) as fetcher:
        image = await fetcher.fetch("http://10.0.0.7/a.png")

    assert image.content_type == "image/png"


# -- unreachable, capped, not an image -------------------------------------------------------


@pytest.mark.parametrize("status", [403, 404, 410, 500, 503])
async def test_http_errors_are_unreachable(status: int) -> None:
    recorder = Recorder({"https://cdn.example.com/a.jpg": lambda _r: httpx.Response(status)})

    error = await refused(
        fetcher_for(recorder), "https://cdn.example.com/a.jpg", ReasonCode.MEDIA_UNREACHABLE
    )

    assert f"HTTP {status}" in str(error)


async def test_connection_errors_are_unreachable() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    await refused(
        ImageFetcher(settings(), transport=httpx.MockTransport(fail)),
        "https://cdn.example.com/a.jpg",
        ReasonCode.MEDIA_UNREACHABLE,
    )


async def test_too_many_redirects_are_unreachable() -> None:
    recorder = Recorder({f"https://cdn.example.com/{i}": redirect(f"/{i + 1}") for i in range(10)})

    error = await refused(
        fetcher_for(recorder, max_redirects=2),
        "https://cdn.example.com/0",
        ReasonCode.MEDIA_UNREACHABLE,
    )

    assert len(recorder.urls) == 3
    assert "more than 2 redirects" in str(error)


async def test_whole_download_time_is_capped() -> None:
    async def stall(_request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    fetcher = ImageFetcher(settings(fetch_timeout_s=0.2), transport=httpx.MockTransport(stall))

    error = await refused(fetcher, "https://cdn.example.com/slow.jpg", ReasonCode.MEDIA_UNREACHABLE)

    assert "longer than 0.2s" in str(error)


async def test_declared_length_over_the_cap_is_refused_before_reading() -> None:
    headers = {"Content-Length": str(10 * 1024 * 1024), "Content-Type": "image/jpeg"}
    recorder = Recorder(
        {
            "https://cdn.example.com/a.jpg": lambda _r: httpx.Response(
                200, headers=headers, content=b""
            )
        }
    )

    await refused(
        fetcher_for(recorder, max_fetch_bytes=4096),
        "https://cdn.example.com/a.jpg",
        ReasonCode.IMAGE_SIZE_OUT_OF_RANGE,
    )


async def test_streamed_body_over_the_cap_stops_early() -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for i in range(1000):
            sent.append(i)
            yield b"\xff" * 1024

    recorder = Recorder(
        {"https://cdn.example.com/a.jpg": lambda _r: httpx.Response(200, content=endless())}
    )

    await refused(
        fetcher_for(recorder, max_fetch_bytes=4096),
        "https://cdn.example.com/a.jpg",
        ReasonCode.IMAGE_SIZE_OUT_OF_RANGE,
    )

    assert len(sent) <= 6


async def test_html_served_as_jpeg_is_not_an_image() -> None:
    page = b"<!doctype html><html><head><title>Login</title></head></html>"
    recorder = Recorder({"https://cdn.example.com/a.jpg": serve(page, "image/jpeg")})

    error = await refused(
        fetcher_for(recorder), "https://cdn.example.com/a.jpg", ReasonCode.NOT_AN_IMAGE
    )

    assert "HTML" in str(error)


async def test_small_image_is_refused_before_photodna() -> None:
    recorder = Recorder({"https://cdn.example.com/a.png": serve(png(120, 120), "image/png")})

    await refused(
        fetcher_for(recorder), "https://cdn.example.com/a.png", ReasonCode.IMAGE_SIZE_OUT_OF_RANGE
    )


async def test_errors_show_the_url_redacted() -> None:
    url = "https://cdn.example.com/private/alice.jpg?X-Amz-Signature=deadbeef"
    recorder = Recorder({url: lambda _r: httpx.Response(404)})

    error = await refused(fetcher_for(recorder), url, ReasonCode.MEDIA_UNREACHABLE)

    assert "https://cdn.example.com/…" in str(error)
    assert "alice" not in str(error) and "deadbeef" not in str(error)


# -- the connect-time guard over real sockets (loopback only) --------------------------------


class LoopbackServer:
    """A minimal HTTP/1.1 server on 127.0.0.1 that serves one body and counts requests."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> LoopbackServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests.append(await reader.readuntil(b"\r\n\r\n"))
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"
            f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + self.body)
        await writer.drain()
        writer.close()
        await writer.wait_closed()


def resolving_to(*addresses: str) -> Resolver:
    async def resolve(_host: str, _port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(a) for a in addresses]

    return resolve


async def test_name_resolving_to_a_private_address_is_refused_at_connect() -> None:
    async with LoopbackServer(png()) as server:
        fetcher = ImageFetcher(settings(), resolver=resolving_to("127.0.0.1"))

        await refused(
            fetcher,
            f"http://images.example:{server.port}/a.png",
            ReasonCode.MEDIA_FORBIDDEN_ADDRESS,
        )

    assert server.requests == []


async def test_every_resolved_address_is_checked() -> None:
    fetcher = ImageFetcher(settings(), resolver=resolving_to("93.184.216.34", "10.0.0.1"))

    error = await refused(
        fetcher, "http://images.example/a.png", ReasonCode.MEDIA_FORBIDDEN_ADDRESS
    )

    assert "10.0.0.1" in str(error)


async def test_checked_address_is_the_one_connected_and_the_host_name_is_kept() -> None:
    async with LoopbackServer(png()) as server:
        fetcher = ImageFetcher(
            settings(allow_hosts=["127.0.0.0/8"]), resolver=resolving_to("127.0.0.1")
        )
        async with fetcher:
            image = await fetcher.fetch(f"http://images.example:{server.port}/a.png")

    assert image.content_type == "image/png"
    assert len(server.requests) == 1
    assert f"host: images.example:{server.port}".encode() in server.requests[0].lower()


async def test_allow_list_by_host_name_over_real_sockets() -> None:
    async with LoopbackServer(png()) as server:
        fetcher = ImageFetcher(
            settings(allow_hosts=["images.example"]), resolver=resolving_to("127.0.0.1")
        )
        async with fetcher:
            image = await fetcher.fetch(f"http://images.example:{server.port}/a.png")

    assert image.width == 200


async def test_unresolvable_host_is_unreachable() -> None:
    async def no_such_host(_host: str, _port: int) -> list[IPAddress]:
        raise OSError("Name or service not known")

    fetcher = ImageFetcher(settings(), resolver=no_such_host)

    await refused(fetcher, "http://images.example/a.png", ReasonCode.MEDIA_UNREACHABLE)
