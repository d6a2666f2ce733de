"""redact_url: what log lines may say about an image URL."""

from __future__ import annotations

import hashlib

import pytest

from streams.observability.redact import redact_url, url_digest

pytestmark = pytest.mark.unit


def test_keeps_scheme_and_host_drops_path_query_and_credentials() -> None:
    url = "https://alice:s3cret@cdn.example.com/users/alice/photo.jpg?X-Amz-Signature=abc123"

    redacted = redact_url(url)

    assert redacted.startswith("https://cdn.example.com/… #")
    for secret in ("alice", "s3cret", "users", "photo.jpg", "X-Amz-Signature", "abc123"):
        assert secret not in redacted


def test_keeps_port_and_brackets_ipv6() -> None:
    assert redact_url("http://[2001:db8::1]:8080/a").startswith("http://[2001:db8::1]:8080/… #")


def test_an_operator_holding_the_url_finds_its_lines_by_its_sha256() -> None:
    # docs/architecture.md: `printf %s "$URL" | sha256sum | cut -c1-12`
    url = "https://cdn.example.com/a.jpg?sig=1"

    assert redact_url(url).endswith(f" #{hashlib.sha256(url.encode()).hexdigest()[:12]}")


def test_digest_correlates_the_same_url_and_separates_others() -> None:
    a = "https://cdn.example.com/a.jpg?sig=1"
    b = "https://cdn.example.com/a.jpg?sig=2"

    assert redact_url(a) == redact_url(a)
    assert redact_url(a) != redact_url(b)
    assert redact_url(a).endswith(url_digest(a))


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "http://[::1/broken",
        "",
        "/relative/path",
        "//cdn.example.com/no-scheme.jpg",  # a host but no scheme
        "file:///etc/passwd",  # a scheme but no host
    ],
)
def test_unparsable_urls_show_nothing_but_the_digest(url: str) -> None:
    assert redact_url(url) == f"<unparsable url> #{url_digest(url)}"
