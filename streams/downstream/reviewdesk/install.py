"""Puts the review desk on the reporting agent's web port, built from its settings."""

from __future__ import annotations

import logging
import secrets

from aiohttp import web
from faust.web.drivers.aiohttp import Web as AiohttpWeb

from streams.downstream.app import DownstreamApp
from streams.downstream.review_pages import ReviewDesk
from streams.downstream.reviewdesk.accounts import AccountFile
from streams.downstream.reviewdesk.audit import AuditTrail
from streams.downstream.reviewdesk.identity import Gatekeeper
from streams.downstream.reviewdesk.signing import RevealTickets, SessionCodec, Signer
from streams.downstream.reviewdesk.throttle import LoginThrottle
from streams.downstream.reviewdesk.web import PREFIX, DeskParts, desk_application
from streams.errors import ConfigurationError
from streams.events import ReviewDecision
from streams.media.fetcher import ImageFetcher

log = logging.getLogger(__name__)


def install_review_desk(downstream: DownstreamApp, book: ReviewDesk, *, role: str) -> None:
    settings = downstream.settings
    review, topics = settings.review, settings.topics
    key = (
        review.session_secret.get_secret_value().encode()
        if review.session_secret is not None
        else secrets.token_bytes(32)
    )

    async def explain_configuration() -> None:
        """At start, once logging is set up: what an operator may have left out."""
        if review.session_secret is None:
            log.info(
                "review desk sessions end when this process stops; set "
                "HASHGATE_REVIEW__SESSION_SECRET to keep them (and share them between instances)"
            )
        if review.proxy_user_header is not None and not review.trusted_proxies:
            log.warning(
                "HASHGATE_REVIEW__PROXY_USER_HEADER is set but HASHGATE_REVIEW__TRUSTED_PROXIES "
                "is empty: the header is ignored from every address"
            )
        if review.accounts_file is None:
            log.warning(
                "nobody can use the review desk: set HASHGATE_REVIEW__ACCOUNTS_FILE and add "
                "reviewers with `hashgate reviewers add NAME`"
            )

    downstream.app.task(explain_configuration)

    signer = Signer(key)
    accounts = AccountFile(review.accounts_file) if review.accounts_file else None
    if accounts is not None:
        accounts.load()  # a broken file stops the agent here, naming the file
    fetcher = ImageFetcher(settings.media)
    downstream.on_close(fetcher.aclose)
    writer = downstream.writer_for(f"{role}.desk")

    async def publish_decision(decision: ReviewDecision) -> None:
        key = decision.content_id.encode()
        await writer.write(topics.reports_decisions, key, decision.encode(), [])

    async def fetch_image(url: str) -> bytes:
        return (await fetcher.fetch(url)).data

    parts = DeskParts(
        book=book,
        gate=Gatekeeper(review, accounts, SessionCodec(signer, idle_s=review.session_idle_s)),
        throttle=LoginThrottle(
            max_failures=review.login_max_failures, window_s=review.login_lockout_s
        ),
        audit=AuditTrail(writer, topics.reports_audit, registry=downstream.metrics.registry),
        tickets=RevealTickets(signer),
        publish_decision=publish_decision,
        fetch_image=fetch_image,
        secure_cookies=review.secure_cookies,
    )
    driver = downstream.app.web
    if not isinstance(driver, AiohttpWeb):  # faust's only web driver; checked, not assumed
        raise ConfigurationError(f"the review desk needs faust's aiohttp web driver: {driver!r}")
    root = driver.web_app
    root.add_subapp(PREFIX, desk_application(parts))

    async def to_desk(request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(f"{PREFIX}/")

    root.router.add_get(PREFIX, to_desk)
