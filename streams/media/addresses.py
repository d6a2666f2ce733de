"""Which network addresses an image download may reach: the SSRF policy, apart from the I/O.

Upload events come from outside, so a media URL can point at anything, including the worker's
own network, a cloud metadata endpoint that hands out credentials, or a name that resolves to
either. Only globally routable unicast addresses are allowed, unless the operator exempts a
host name or a CIDR through ``allow_hosts``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from streams.errors import MediaError, ReasonCode

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})

#: Names of metadata services; they resolve to link-local addresses, but refuse them by name too.
METADATA_HOSTNAMES = frozenset({"metadata.google.internal", "metadata.goog", "instance-data"})

#: Metadata addresses of the big clouds; most are non-global already, listed so none slips by.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def _normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def ip_literal(host: str) -> IPAddress | None:
    """The address a host denotes by itself (``10.0.0.1``, ``[::1]``), or None for a name."""
    try:
        return ipaddress.ip_address(_normalise_host(host))
    except ValueError:
        return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """IPv4 reachable through an IPv6 form (mapped or 6to4): it must pass the IPv4 check too."""
    return ip.ipv4_mapped or ip.sixtofour


def forbidden_because(ip: IPAddress) -> str | None:
    """Why a download must not connect to ``ip``, or None when it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return forbidden_because(embedded)
    checks = (
        (ip in METADATA_ADDRESSES, "cloud metadata"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "carrier-grade NAT"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    )
    return next((why for failed, why in checks if failed), None)


def _forbidden(message: str) -> MediaError:
    return MediaError(message, reason=ReasonCode.MEDIA_FORBIDDEN_ADDRESS)


class AddressPolicy:
    """Decides per host name and per resolved address; ``allow_hosts`` exempts names and CIDRs."""

    def __init__(self, allow_hosts: Iterable[str] = ()) -> None:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in allow_hosts:
            try:
                networks.append(ipaddress.ip_network(_normalise_host(entry), strict=False))
            except ValueError:
                names.add(_normalise_host(entry))
        self._allowed_names = frozenset(names)
        self._allowed_networks = tuple(networks)

    def host_is_exempt(self, host: str) -> bool:
        return _normalise_host(host) in self._allowed_names

    def check_scheme(self, scheme: str) -> None:
        if scheme.lower() not in ALLOWED_SCHEMES:
            raise _forbidden(f"scheme {scheme!r} is not allowed (http or https only)")

    def check_host(self, host: str) -> None:
        """The check possible before any DNS lookup: refused names and IP literals."""
        name = _normalise_host(host)
        if not name:
            raise _forbidden("the URL has no host")
        if name in self._allowed_names:
            return
        if name in METADATA_HOSTNAMES:
            raise _forbidden(f"host {name!r} is a cloud metadata service")
        literal = ip_literal(name)
        if literal is not None:
            self.check_address(name, literal)

    def check_address(self, host: str, ip: IPAddress) -> None:
        """The check at connect time, on every address the host resolved to."""
        if self.host_is_exempt(host) or any(ip in net for net in self._allowed_networks):
            return
        why = forbidden_because(ip)
        if why is not None:
            raise _forbidden(
                f"host {_normalise_host(host)!r} is at {ip}, a {why} address "
                "(list it in HASHGATE_MEDIA__ALLOW_HOSTS if it is yours and trusted)"
            )
