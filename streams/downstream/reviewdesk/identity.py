"""Who is asking, and from where: a reviewer named by a trusted reverse proxy, or one with a
session cookie.

The proxy's header is believed only when the TCP peer is one of the configured proxy addresses;
from anywhere else it is refused, so a client cannot name itself. Either way the name must be an
account in the accounts file, which gives the role. The same proxy addresses decide whose
``X-Forwarded-For`` says where the client is.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from streams.downstream.reviewdesk.accounts import AccountFile
from streams.downstream.reviewdesk.signing import Session, SessionCodec
from streams.settings import ReviewRole, ReviewSettings

log = logging.getLogger(__name__)

COOKIE = "hashgate_review"
#: For a proxied user, the CSRF nonce is tied to the name (there is no session cookie).
PROXY_NONCE = "proxy\x1f"


@dataclass(frozen=True)
class Reviewer:
    name: str
    role: ReviewRole
    via: Literal["password", "proxy"]
    #: What this reviewer's CSRF token is derived from.
    nonce: str

    @property
    def may_decide(self) -> bool:
        return self.role is ReviewRole.REVIEWER


@dataclass(frozen=True)
class ProxyRefusal:
    """A proxy's user header that was not believed: a failed login, for the audit trail."""

    name: str
    reason: str


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ProxySessions:
    """When a proxied reviewer's visit starts, so it is audited as a login like a password one.

    A proxied user has no session cookie; a run of requests without a gap longer than the idle
    timeout stands for a session. Kept in memory, one entry per account name: a restart, or
    another instance, audits one more login.
    """

    def __init__(self, *, idle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._idle = idle_s
        self._now = clock
        self._last_seen: dict[str, float] = {}

    def starts(self, name: str) -> bool:
        last = self._last_seen.get(name)
        return last is None or self._now() - last > self._idle

    def seen(self, name: str) -> None:
        self._last_seen[name] = self._now()


class Gatekeeper:
    def __init__(
        self,
        settings: ReviewSettings,
        accounts: AccountFile | None,
        sessions: SessionCodec,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self.proxy_sessions = ProxySessions(idle_s=settings.session_idle_s, clock=clock)
        self._header = settings.proxy_user_header
        self._proxies: list[IpNetwork] = [
            ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies
        ]

    def from_proxy(
        self, peer: str | None, headers: Mapping[str, str]
    ) -> Reviewer | ProxyRefusal | None:
        """None without the header; ``headers`` must look names up case-insensitively (aiohttp's
        do)."""
        if self._header is None or not (name := headers.get(self._header, "").strip()):
            return None
        if not self._trusted(peer):
            log.warning(
                "ignored %s from %s: not a trusted proxy address", self._header, peer or "?"
            )
            return ProxyRefusal(name, "user header from an address that is not a trusted proxy")
        account = self.accounts.find(name) if self.accounts else None
        if account is None:
            log.warning("the proxy named %r, who has no review desk account", name)
            return ProxyRefusal(name, "the proxy named a user with no review desk account")
        return Reviewer(account.name, account.role, "proxy", PROXY_NONCE + account.name)

    def client_address(self, peer: str | None, forwarded_for: Sequence[str]) -> str:
        """The client's address: the TCP peer, or behind trusted proxies the one they saw.

        Each proxy appends the address it was reached from to ``X-Forwarded-For``; read from the
        right, past our own proxies, the first other address is the client as our outermost
        proxy saw it. Anything further left the client may have written itself. Without a
        usable entry (none, or one that is not an address), the peer.
        """
        if not self._trusted(peer):
            return peer or "unknown"
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        for hop in reversed(hops):
            address = _parsed(hop)
            if address is None:
                break
            if not self._trusted_address(address):
                return str(address)
        return peer or "unknown"

    def from_session(self, session: Session | None) -> Reviewer | None:
        """The session's reviewer, if the account still exists (removal ends its sessions)."""
        if session is None or session.user is None:
            return None
        account = self.accounts.find(session.user) if self.accounts else None
        if account is None or account.password_hash is None:
            return None
        return Reviewer(account.name, account.role, "password", session.nonce)

    def _trusted(self, peer: str | None) -> bool:
        address = _parsed(peer) if peer is not None else None
        return address is not None and self._trusted_address(address)

    def _trusted_address(self, address: IpAddress) -> bool:
        return any(address in network for network in self._proxies)


def _parsed(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
