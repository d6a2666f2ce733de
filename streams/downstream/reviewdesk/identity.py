"""Who is asking: a reviewer named by a trusted reverse proxy, or one with a session cookie.

The proxy's header is believed only when the TCP peer is one of the configured proxy addresses;
from anywhere else it is ignored, so a client cannot name itself. Either way the name must be an
account in the accounts file, which gives the role.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
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


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Gatekeeper:
    def __init__(
        self, settings: ReviewSettings, accounts: AccountFile | None, sessions: SessionCodec
    ) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self._header = settings.proxy_user_header
        self._proxies: list[IpNetwork] = [
            ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies
        ]

    def from_proxy(self, peer: str | None, headers: Mapping[str, str]) -> Reviewer | None:
        """``headers`` must look names up case-insensitively (aiohttp's do)."""
        if self._header is None or not (name := headers.get(self._header, "").strip()):
            return None
        if not self._trusted(peer):
            log.warning(
                "ignored %s from %s: not a trusted proxy address", self._header, peer or "?"
            )
            return None
        account = self.accounts.find(name) if self.accounts else None
        if account is None:
            log.warning("the proxy named %r, who has no review desk account", name)
            return None
        return Reviewer(account.name, account.role, "proxy", PROXY_NONCE + account.name)

    def from_session(self, session: Session | None) -> Reviewer | None:
        """The session's reviewer, if the account still exists (removal ends its sessions)."""
        if session is None or session.user is None:
            return None
        account = self.accounts.find(session.user) if self.accounts else None
        if account is None or account.password_hash is None:
            return None
        return Reviewer(account.name, account.role, "password", session.nonce)

    def _trusted(self, peer: str | None) -> bool:
        if peer is None:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self._proxies)
