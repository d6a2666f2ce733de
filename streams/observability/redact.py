"""Image URLs in logs and errors: enough to see where, never the path or a pre-signed query.

Pre-signed URLs are credentials and paths can name people, so logs get only ``scheme://host/…``
plus a short digest of the whole URL, which lets an operator correlate log lines about the same
image without being able to read it back.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

DIGEST_CHARS = 12


def url_digest(url: str) -> str:
    """A short, stable fingerprint of the full URL, for correlating log lines."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]


def redact_url(url: str) -> str:
    """``https://cdn.example.com/… #3f2a9c0d1b4e``: scheme and host only, user info dropped."""
    digest = url_digest(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return f"<unparsable url> #{digest}"
    if not parts.scheme or not host:
        return f"<unparsable url> #{digest}"
    if ":" in host:
        host = f"[{host}]"
    authority = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{authority}/… #{digest}"
