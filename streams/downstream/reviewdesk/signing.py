"""Signed session cookies, CSRF tokens and image tickets: all HMAC-SHA256 with one key.

A session is kept entirely in its cookie (signed, not encrypted: it holds a name, a role and
timestamps, nothing secret), so any number of agent instances sharing
``HASHGATE_REVIEW__SESSION_SECRET`` accept each other's sessions. The idle timeout is enforced
on the server from the signed ``last_seen``, which every request renews.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def verify(self, signature: str, *parts: str) -> bool:
        return hmac.compare_digest(signature.encode(), self.sign(*parts).encode())


@dataclass(frozen=True)
class Session:
    """A browser's session; ``user`` None before login (it still carries a CSRF nonce). The
    role is not kept here: it is read from the accounts file on every request."""

    nonce: str
    last_seen: float
    user: str | None = None

    @classmethod
    def anonymous(cls, now: float) -> Session:
        return cls(nonce=secrets.token_urlsafe(16), last_seen=now)


class SessionCodec:
    def __init__(
        self, signer: Signer, *, idle_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._signer = signer
        self.idle_s = idle_s
        self._now = clock

    def new(self) -> Session:
        return Session.anonymous(self._now())

    def logged_in(self, user: str) -> Session:
        """A fresh nonce at login, so a token seen before login is worth nothing after it."""
        return replace(self.new(), user=user)

    def encode(self, session: Session) -> str:
        payload = _b64(json.dumps(asdict(replace(session, last_seen=self._now()))).encode())
        return f"{payload}.{self._signer.sign('session', payload)}"

    def decode(self, value: str | None) -> Session | None:
        """None for a missing, forged, malformed or idle-expired cookie."""
        if not value or value.count(".") != 1:
            return None
        payload, signature = value.split(".")
        if not self._signer.verify(signature, "session", payload):
            return None
        try:
            raw = json.loads(_unb64(payload))
            session = Session(
                nonce=str(raw["nonce"]),
                last_seen=float(raw["last_seen"]),
                user=raw["user"],
            )
        except (ValueError, KeyError, TypeError):
            return None
        if self._now() - session.last_seen > self.idle_s:
            return None
        return session

    def csrf_token(self, nonce: str) -> str:
        return self._signer.sign("csrf", nonce)

    def csrf_ok(self, nonce: str, token: str | None) -> bool:
        return bool(token) and self._signer.verify(token or "", "csrf", nonce)


class RevealTickets:
    """One-use, short-lived permissions to load one report's clear image.

    A reveal is audited when the ticket is issued; the clear image is served only against a
    ticket, so no clear image leaves the agent without its audit event.
    """

    def __init__(
        self, signer: Signer, *, ttl_s: float = 30.0, clock: Callable[[], float] = time.time
    ) -> None:
        self._signer = signer
        self._ttl = ttl_s
        self._now = clock
        self._used: dict[str, float] = {}

    def issue(self, user: str, report_id: str) -> str:
        expiry = str(int(self._now() + self._ttl))
        nonce = secrets.token_urlsafe(9)
        return f"{expiry}.{nonce}.{self._signer.sign('reveal', user, report_id, expiry, nonce)}"

    def redeem(self, ticket: str, user: str, report_id: str) -> bool:
        now = self._now()
        self._used = {t: exp for t, exp in self._used.items() if exp >= now}
        parts = ticket.split(".")
        if len(parts) != 3 or ticket in self._used or not parts[0].isdigit():
            return False
        expiry, nonce, signature = parts
        if int(expiry) < now or not self._signer.verify(
            signature, "reveal", user, report_id, expiry, nonce
        ):
            return False
        self._used[ticket] = int(expiry)
        return True
