"""The SSRF policy: which addresses an image download may connect to."""

from __future__ import annotations

import ipaddress

import pytest

from streams.errors import MediaError, ReasonCode
from streams.media.addresses import AddressPolicy, forbidden_because

pytestmark = pytest.mark.unit

FORBIDDEN = [
    "127.0.0.1",  # loopback
    "127.255.0.9",
    "10.1.2.3",  # private
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",  # AWS/GCP/Azure metadata
    "169.254.1.1",  # link-local
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "100.100.100.200",  # Alibaba metadata, inside CGNAT
    "0.0.0.0",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "::1",
    "::",
    "fc00::1",  # unique local
    "fd12:3456::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "fe80::1",  # link-local
    "ff02::1",  # multicast
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "2002:a00:1::1",  # 6to4 wrapping 10.0.0.1
    "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1
    "2001:db8::1",  # documentation
]

ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_non_public_addresses_are_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert forbidden_because(ip) is not None
    with pytest.raises(MediaError) as caught:
        AddressPolicy().check_address("images.example", ip)
    assert caught.value.reason is ReasonCode.MEDIA_FORBIDDEN_ADDRESS


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert forbidden_because(ip) is None
    AddressPolicy().check_address("images.example", ip)


def test_metadata_address_is_named_in_the_refusal() -> None:
    with pytest.raises(MediaError, match="cloud metadata"):
        AddressPolicy().check_address("x", ipaddress.ip_address("169.254.169.254"))


@pytest.mark.parametrize(
    "host", ["metadata.google.internal", "METADATA.google.internal.", "127.0.0.1", "[::1]", ""]
)
def test_check_host_refuses_metadata_names_and_private_literals(host: str) -> None:
    with pytest.raises(MediaError) as caught:
        AddressPolicy().check_host(host)
    assert caught.value.reason is ReasonCode.MEDIA_FORBIDDEN_ADDRESS


def test_check_host_leaves_ordinary_names_to_connect_time() -> None:
    AddressPolicy().check_host("cdn.example.com")


def test_allow_list_exempts_cidrs_and_names_only() -> None:
    policy = AddressPolicy(["10.20.0.0/16", "internal-cdn.corp", "::1"])

    policy.check_address("anything", ipaddress.ip_address("10.20.3.4"))
    policy.check_address("anything", ipaddress.ip_address("::1"))
    policy.check_address("Internal-CDN.corp.", ipaddress.ip_address("192.168.9.9"))
    policy.check_host("internal-cdn.corp")
    with pytest.raises(MediaError):
        policy.check_address("anything", ipaddress.ip_address("10.21.0.1"))
    with pytest.raises(MediaError):
        policy.check_address("other.corp", ipaddress.ip_address("192.168.9.9"))


def test_a_cidr_written_from_one_of_its_hosts_exempts_the_whole_network() -> None:
    # An operator copying a host's address with its prefix (10.20.3.4/16) means the network.
    policy = AddressPolicy(["10.20.3.4/16"])

    policy.check_address("anything", ipaddress.ip_address("10.20.200.1"))


@pytest.mark.parametrize("scheme", ["ftp", "file", "gopher", "data", "javascript", ""])
def test_only_http_and_https_schemes(scheme: str) -> None:
    with pytest.raises(MediaError) as caught:
        AddressPolicy().check_scheme(scheme)
    assert caught.value.reason is ReasonCode.MEDIA_FORBIDDEN_ADDRESS
    AddressPolicy().check_scheme("HTTPS")
