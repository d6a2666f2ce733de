"""The SSRF guard at connect time: resolve, check every address, connect to the checked one.

Checking a URL's host before the request is not enough: DNS can answer differently a moment
later (rebinding), and a redirect can point anywhere. So the check sits in the httpcore network
backend, where the TCP connection is made: the name is resolved once, each address is checked,
and the socket goes to that same address. TLS still verifies and sends SNI for the host name,
because httpcore takes those from the URL, not from the socket.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

import httpcore
import httpx

from streams.errors import MediaError, ReasonCode
from streams.media.addresses import AddressPolicy, IPAddress, ip_literal

#: Resolves a host name and port to the addresses a connection may use.
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The operating system's resolver (getaddrinfo), without duplicates, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    unique: dict[IPAddress, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        unique[ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])] = None
    return list(unique)


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Refuses to open a TCP connection to any address the policy forbids."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def _resolve(self, host: str) -> list[IPAddress]:
        literal = ip_literal(host)
        if literal is not None:
            return [literal]
        try:
            return await self._resolver(host, 0)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve host {host!r}: {exc}") from None

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self._policy.check_host(host)
        addresses = await self._resolve(host)
        if not addresses:
            raise httpcore.ConnectError(f"host {host!r} resolved to no address")
        for ip in addresses:
            self._policy.check_address(host, ip)

        async def connect(ip: IPAddress) -> httpcore.AsyncNetworkStream:
            return await self._inner.connect_tcp(
                str(ip),
                port,
                timeout=timeout,
                local_address=local_address,
                socket_options=socket_options,
            )

        for ip in addresses[:-1]:
            try:
                return await connect(ip)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue
        return await connect(addresses[-1])

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise MediaError(
            "image downloads never use Unix sockets", reason=ReasonCode.MEDIA_FORBIDDEN_ADDRESS
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(
    policy: AddressPolicy, *, resolver: Resolver = system_resolver, max_connections: int = 20
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection passes the policy; no proxies from the env.

    httpx 0.28 has no public way to hand a network backend to its transport, so the transport's
    connection pool is replaced by an equivalent one that uses the guarded backend. A unit test
    fails if that stops taking effect.
    """
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        network_backend=GuardedNetworkBackend(policy, resolver=resolver),
    )
    return transport
