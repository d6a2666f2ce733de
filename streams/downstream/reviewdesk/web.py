"""The review desk's aiohttp application, mounted at ``/review`` on the reporting agent's port.

Every route but the login page and the static files needs a reviewer (401 for the API, a
redirect to the login page for a browser); every request that changes anything also needs the
reviewer's CSRF token and must not come from another site. Only ``reviewer`` accounts decide.
Every response carries a strict Content-Security-Policy and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from pydantic import ValidationError

from streams.downstream.decisions import make_decision
from streams.downstream.report_state import OPEN_PHASES, ReportState
from streams.downstream.review_pages import ReviewDesk, review_summary, waiting_s
from streams.downstream.reviewdesk import imaging, pages
from streams.downstream.reviewdesk.accounts import password_matches
from streams.downstream.reviewdesk.audit import AuditTrail
from streams.downstream.reviewdesk.identity import COOKIE, Gatekeeper, ProxyRefusal, Reviewer
from streams.downstream.reviewdesk.signing import RevealTickets, Session
from streams.downstream.reviewdesk.throttle import LoginThrottle
from streams.errors import MediaError
from streams.events import AuditAction, ReviewChoice, ReviewDecision, ReviewRequest

log = logging.getLogger(__name__)

PREFIX = pages.PREFIX
STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

SESSION = web.RequestKey("session", Session)
REVIEWER = web.RequestKey("reviewer", Reviewer)


@dataclass
class DeskParts:
    """What the desk works with; the reporting agent builds them (tests hand in fakes)."""

    book: ReviewDesk
    gate: Gatekeeper
    throttle: LoginThrottle
    audit: AuditTrail
    tickets: RevealTickets
    publish_decision: Callable[[ReviewDecision], Awaitable[None]]
    fetch_image: Callable[[str], Awaitable[bytes]]
    secure_cookies: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def _is_public(path: str) -> bool:
    return path == f"{PREFIX}/login" or path.startswith(f"{PREFIX}/static/")


def _is_api(path: str) -> bool:
    return path.startswith(f"{PREFIX}/api/")


def _cross_site(request: web.Request) -> bool:
    """Browsers say where a request comes from; anything but this site is refused.

    With ``Referrer-Policy: no-referrer`` a browser sends ``Origin: null`` for its own form
    posts, so "null" proves nothing either way; Sec-Fetch-Site and the CSRF token still do.
    """
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin", "null")
    return origin != "null" and urlsplit(origin).netloc != request.host


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


def _redirect(location: str) -> web.Response:
    """A 303 that is returned (so cookies can be set on it), not raised."""
    return web.Response(status=303, headers={"Location": location})


def _safe_next(value: str | None) -> str:
    """Only back into the desk: never an open redirect to another site."""
    if value and value.startswith(f"{PREFIX}/") and not value.startswith("//"):
        return value
    return f"{PREFIX}/"


def desk_application(parts: DeskParts) -> web.Application:
    codec = parts.gate.sessions

    def set_session(response: web.StreamResponse, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            codec.encode(session),
            httponly=True,
            samesite="Strict",
            secure=parts.secure_cookies,
            path=PREFIX,
        )

    @web.middleware
    async def security_headers(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(SECURITY_HEADERS)
            raise
        if not response.prepared:  # a streamed response set them itself before sending
            response.headers.update(SECURITY_HEADERS)
        return response

    def address_of(request: web.Request) -> str:
        forwarded_for = request.headers.getall("X-Forwarded-For", [])
        return parts.gate.client_address(request.remote, forwarded_for)

    async def proxied_reviewer(request: web.Request) -> Reviewer | None:
        """The proxy's user, if believed; a refused one, and each proxied visit, is audited."""
        proxied = parts.gate.from_proxy(request.remote, request.headers)
        if proxied is None:
            return None
        if isinstance(proxied, ProxyRefusal):
            await parts.audit.record(
                AuditAction.LOGIN_FAILED,
                actor=proxied.name,
                via="proxy",
                address=address_of(request),
                detail=proxied.reason,
            )
            return None
        visits = parts.gate.proxy_sessions
        if visits.starts(proxied.name):
            await parts.audit.record(
                AuditAction.LOGIN,
                actor=proxied.name,
                role=proxied.role.value,
                via="proxy",
                address=address_of(request),
            )
        visits.seen(proxied.name)  # only once audited: a failed write audits the next request
        return proxied

    @web.middleware
    async def authenticate(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        session = codec.decode(request.cookies.get(COOKIE))
        reviewer = await proxied_reviewer(request)
        if reviewer is None:
            reviewer = parts.gate.from_session(session)
        if session is not None:
            request[SESSION] = session
        if reviewer is not None:
            request[REVIEWER] = reviewer
        if not _is_public(request.path):
            if reviewer is None:
                if request.method == "GET" and not _is_api(request.path):
                    target = quote(request.path_qs, safe="/")
                    return _redirect(f"{PREFIX}/login?next={target}")
                return _problem(401, "log in first")
            if request.method not in ("GET", "HEAD") and not await _csrf_ok(request, reviewer):
                return _problem(403, "refused: missing or wrong CSRF token, or another site")
        response = await handler(request)
        if (
            session is not None
            and reviewer is not None
            and reviewer.via == "password"
            and not response.prepared  # a streamed image: its headers are gone already
            and COOKIE not in response.cookies
        ):
            set_session(response, session)  # renews the idle timeout
        return response

    async def _csrf_ok(request: web.Request, reviewer: Reviewer) -> bool:
        if _cross_site(request):
            return False
        token = request.headers.get("X-CSRF-Token")
        if token is None and request.content_type == "application/x-www-form-urlencoded":
            token = str((await request.post()).get("csrf", ""))
        return codec.csrf_ok(reviewer.nonce, token)

    async def audit(
        request: web.Request,
        action: AuditAction,
        review: ReviewRequest | None = None,
        **details: Any,
    ) -> None:
        """An audit event of what the request's reviewer did."""
        reviewer = request[REVIEWER]
        await parts.audit.record(
            action,
            actor=reviewer.name,
            role=reviewer.role.value,
            via=reviewer.via,
            address=address_of(request),
            review=review,
            **details,
        )

    def csrf_of(request: web.Request) -> str:
        return codec.csrf_token(request[REVIEWER].nonce)

    # -- logging in and out ------------------------------------------------------------------

    async def login_form(request: web.Request) -> web.StreamResponse:
        next_path = _safe_next(request.query.get("next"))
        if REVIEWER in request:
            return _redirect(next_path)
        return login_response(request, next_path, None)

    def login_response(
        request: web.Request, next_path: str, problem: str | None, status: int = 200
    ) -> web.Response:
        session = request.get(SESSION) or codec.new()
        html = pages.login_page(
            csrf=codec.csrf_token(session.nonce), next_path=next_path, problem=problem
        )
        response = _html(html, status)
        set_session(response, session)
        return response

    async def login(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
        next_path = _safe_next(str(form.get("next", "")))
        session = request.get(SESSION)
        if (
            session is None
            or _cross_site(request)
            or not codec.csrf_ok(session.nonce, str(form.get("csrf", "")))
        ):
            return login_response(request, next_path, "The form expired; please log in again.", 403)
        address = address_of(request)
        failure: str | None = None
        account = parts.gate.accounts.find(name) if parts.gate.accounts and name else None
        if parts.throttle.blocked(name, address):
            failure = "too many failed logins"
            log.warning(
                "review desk login refused: too many failed logins",
                extra={"account": name, "address": address},
            )
        elif not await asyncio.to_thread(password_matches, account, password):
            parts.throttle.failed(name, address)
            failure = "wrong name or password"
        if failure is not None or account is None:
            await parts.audit.record(
                AuditAction.LOGIN_FAILED,
                actor=name or "(empty)",
                via="password",
                address=address,
                detail=failure,
            )
            status = 429 if failure == "too many failed logins" else 401
            shown = "Too many failed logins; try again later." if status == 429 else None
            return login_response(request, next_path, shown or "Wrong name or password.", status)
        parts.throttle.succeeded(name)
        await parts.audit.record(
            AuditAction.LOGIN,
            actor=account.name,
            role=account.role.value,
            via="password",
            address=address,
        )
        response = _redirect(next_path)
        set_session(response, codec.logged_in(account.name))
        return response

    async def logout(request: web.Request) -> web.StreamResponse:
        await audit(request, AuditAction.LOGOUT)
        response = _redirect(f"{PREFIX}/login")
        response.del_cookie(COOKIE, path=PREFIX)
        return response

    # -- reading -----------------------------------------------------------------------------

    async def queue(request: web.Request) -> web.StreamResponse:
        return _html(pages.queue_page(csrf=csrf_of(request), reviewer=request[REVIEWER]))

    async def session_info(request: web.Request) -> web.StreamResponse:
        reviewer = request[REVIEWER]
        return web.json_response(
            {"name": reviewer.name, "role": reviewer.role.value, "csrf": csrf_of(request)}
        )

    async def pending(request: web.Request) -> web.StreamResponse:
        tenant, source = request.query.get("tenant"), request.query.get("source")
        now = parts.clock()
        everything = [
            {**review_summary(s.review), "waiting_s": waiting_s(s.review, now)}
            for s in parts.book.pending()
        ]
        shown = [
            entry
            for entry in everything
            if (not tenant or entry["tenant"] == tenant)
            and (not source or source in entry["sources"])
        ]
        return web.json_response(
            {
                "reports": shown,
                "tenants": sorted({e["tenant"] for e in everything}),
                "sources": sorted({s for e in everything for s in e["sources"]}),
            }
        )

    def report_or_404(request: web.Request) -> ReportState:
        state = parts.book.get(request.match_info["report_id"])
        if state is None:
            raise web.HTTPNotFound(
                text="no such report on this agent instance; `hashgate reports pending` lists all"
            )
        return state

    async def report(request: web.Request) -> web.StreamResponse:
        state = report_or_404(request)
        uploader = state.review.uploader
        shown = (
            " ".join(str(v) for v in (uploader.account_id, uploader.ip) if v) if uploader else ""
        )
        html = pages.report_page(
            review_summary(state.review),
            phase=state.phase.value,
            csrf=csrf_of(request),
            reviewer=request[REVIEWER],
            uploader=shown or "unknown",
        )
        return _html(html)

    async def image(
        request: web.Request, state: ReportState, render: Callable[[bytes], bytes]
    ) -> web.StreamResponse:
        """Fetched now, re-encoded in memory and streamed: never stored anywhere."""
        try:
            data = await parts.fetch_image(str(state.review.media_url))
        except MediaError as exc:
            return web.Response(status=502, text=f"image unavailable: {exc}")
        body = await asyncio.to_thread(render, data)
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.content_length = len(body)
        response.headers.update(SECURITY_HEADERS)
        await response.prepare(request)
        await response.write(body)
        await response.write_eof()
        return response

    async def blurred_image(request: web.Request) -> web.StreamResponse:
        return await image(request, report_or_404(request), imaging.blurred_grayscale)

    async def reveal(request: web.Request) -> web.StreamResponse:
        state = report_or_404(request)
        await audit(request, AuditAction.REVEAL, state.review)
        ticket = parts.tickets.issue(request[REVIEWER].name, state.review.report_id)
        url = f"{PREFIX}/reports/{state.review.report_id}/image/clear?ticket={quote(ticket)}"
        return web.json_response({"url": url})

    async def clear_image(request: web.Request) -> web.StreamResponse:
        state = report_or_404(request)
        ticket = request.query.get("ticket", "")
        if not parts.tickets.redeem(ticket, request[REVIEWER].name, state.review.report_id):
            return _problem(403, "reveal the image first (tickets are for one use, 30 s)")
        return await image(request, state, imaging.clear)

    # -- deciding ----------------------------------------------------------------------------

    async def decide(request: web.Request) -> web.StreamResponse:
        reviewer = request[REVIEWER]
        if not reviewer.may_decide:
            return _problem(403, f"{reviewer.role.value} accounts cannot decide")
        choice = request.match_info["choice"]
        if choice not in {c.value for c in ReviewChoice}:
            return _problem(404, f"unknown decision {choice!r}: approve or reject")
        state = report_or_404(request)
        if state.phase not in OPEN_PHASES:
            return _problem(409, f"report already {state.phase.value}")
        try:
            body = await _json_body(request)
            decision = make_decision(
                state.review, ReviewChoice(choice), by=reviewer.name, reason=body.get("reason")
            )
        except (ValueError, ValidationError) as exc:
            return _problem(400, _first_problem(exc))
        # The audit event first: if it cannot be written, the request fails and nothing is
        # decided; the other way round, a failure would leave a decision nobody can account for.
        await audit(
            request,
            AuditAction.DECISION,
            state.review,
            decision=decision.decision,
            decision_id=decision.decision_id,
            detail=decision.reason,
        )
        await parts.publish_decision(decision)
        return web.json_response(
            {
                "decision_id": decision.decision_id,
                "report_id": state.review.report_id,
                "decision": decision.decision.value,
            },
            status=202,
        )

    app = web.Application(middlewares=[security_headers, authenticate])
    app.add_routes(
        [
            web.get("/login", login_form),
            web.post("/login", login),
            web.post("/logout", logout),
            web.get("/", queue),
            web.get("/api/session", session_info),
            web.get("/api/pending", pending),
            web.post("/api/reports/{report_id}/{choice}", decide),
            web.get("/reports/{report_id}", report),
            web.get("/reports/{report_id}/image", blurred_image),
            web.post("/reports/{report_id}/reveal", reveal),
            web.get("/reports/{report_id}/image/clear", clear_image),
        ]
    )
    app.router.add_static("/static", STATIC)
    return app


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _first_problem(exc: ValueError | ValidationError) -> str:
    if isinstance(exc, ValidationError):
        return str(exc.errors(include_url=False, include_input=False)[0]["msg"])
    return str(exc)
