"""httpx's API on aiohttp's connection pool: the PhotoDNA client's default transport.

Profiling the worker showed httpcore's pool (httpx 0.28 / httpcore 1.0) spending ~16 ms of CPU
per call with 64 calls in flight: every request and every response re-scans all connections and
polls each idle socket (encode/httpx#3215), so the worker reached ~40 calls/s where PhotoDNA
allowed 320. aiohttp's pool hands out connections in constant time. The client keeps speaking
httpx (requests, responses, ``MockTransport`` in tests); only the wire goes through aiohttp.

aiohttp's errors are re-raised as the httpx errors the client already classifies, so a dropped
connection or a timeout stays a transient failure and can never turn into a verdict.
"""

from __future__ import annotations

import asyncio
from types import MappingProxyType

import aiohttp
import httpx

_SCHEMES = frozenset({"http", "https"})

#: aiohttp errors, most specific first, and the httpx error each one stands for.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientError, httpx.ReadError),
)


def _client_timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    """httpx's per-request timeouts (connect, read, pool) in aiohttp's terms."""
    limits = request.extensions.get("timeout", MappingProxyType({}))
    connect, read, pool = limits.get("connect"), limits.get("read"), limits.get("pool")
    # aiohttp's "connect" covers waiting for a pooled connection and opening a new one.
    acquire = None if connect is None or pool is None else connect + pool
    return aiohttp.ClientTimeout(total=None, connect=acquire, sock_connect=connect, sock_read=read)


def _as_httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    error = next(httpx_error for kind, httpx_error in _ERRORS if isinstance(exc, kind))
    return error(f"{type(exc).__name__}: {exc}", request=request)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session per event loop, made on first use, with ``max_connections``."""

    def __init__(self, *, max_connections: int) -> None:
        self._max_connections = max_connections
        self._ssl = httpx.create_ssl_context()  # the same CA bundle httpx itself would use
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_for_this_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._loop = loop
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, ssl=self._ssl
            )
            # httpx decodes Content-Encoding itself, so aiohttp hands over the raw bytes.
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in _SCHEMES:
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{request.url.scheme}://'.",
                request=request,
            )
        session = self._session_for_this_loop()
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=await request.aread(),
                allow_redirects=False,
                timeout=_client_timeout(request),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            ) as answer:
                body = await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _as_httpx_error(exc, request) from None
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
