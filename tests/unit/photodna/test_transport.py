"""The aiohttp transport under the PhotoDNA client: answers arrive intact, failures stay transient.

A dropped connection, a hang or a refused connect must reach the client as the httpx errors it
classifies as transient, or an outage could surface as something other than a retry.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from streams.photodna.transport import AiohttpTransport

pytestmark = pytest.mark.unit


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {"method": request.method, "query": request.query_string, "body": body.decode()},
        headers={"X-Seen-Key": request.headers.get("Ocp-Apim-Subscription-Key", "")},
    )


async def _gzipped(_request: web.Request) -> web.Response:
    return web.Response(
        body=gzip.compress(b'{"Status": {"Code": 3000}}'),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )


async def _drop(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.abort()
    return web.Response()


async def _hang(_request: web.Request) -> web.Response:
    await asyncio.sleep(30)
    return web.Response()


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/echo", _echo)
    app.router.add_get("/gzipped", _gzipped)
    app.router.add_get("/drop", _drop)
    app.router.add_get("/hang", _hang)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def _send(request: httpx.Request) -> httpx.Response:
    transport = AiohttpTransport(max_connections=4)
    try:
        response = await transport.handle_async_request(request)
        await response.aread()
        return response
    finally:
        await transport.aclose()


def _request(method: str, url: str, *, timeout: float = 5.0, **kwargs: Any) -> httpx.Request:
    extensions = {"timeout": httpx.Timeout(timeout).as_dict()}
    return httpx.Request(method, url, extensions=extensions, **kwargs)


async def test_request_and_answer_pass_through_unchanged(server: str) -> None:
    request = _request(
        "POST",
        f"{server}/echo?enhance=false",
        json={"DataRepresentation": "URL"},
        headers={"Ocp-Apim-Subscription-Key": "k-123"},
    )

    response = await _send(request)

    assert response.status_code == 200
    assert response.headers["X-Seen-Key"] == "k-123"
    assert response.json() == {
        "method": "POST",
        "query": "enhance=false",
        "body": '{"DataRepresentation":"URL"}',
    }


async def test_compressed_answer_is_decoded_once(server: str) -> None:
    response = await _send(_request("GET", f"{server}/gzipped"))

    assert response.json() == {"Status": {"Code": 3000}}


async def test_dropped_connection_is_a_protocol_error(server: str) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await _send(_request("GET", f"{server}/drop"))


async def test_hang_past_the_read_timeout_is_a_read_timeout(server: str) -> None:
    with pytest.raises(httpx.ReadTimeout):
        await _send(_request("GET", f"{server}/hang", timeout=0.2))


async def test_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: the connect is refused

        with pytest.raises(httpx.ConnectError):
            await _send(_request("GET", f"http://127.0.0.1:{port}/"))


async def test_non_http_scheme_is_unsupported() -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        await _send(_request("GET", "ftp://127.0.0.1/image.png"))
