"""The review desk's HTTP behaviour in-process: who gets in, what they may change, what is sent.

The real browser test (tests/integration/test_reviewdesk_browser.py) covers the same desk
end to end; these tests cover the refusals and edge cases quickly and exhaustively.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from prometheus_client import CollectorRegistry

from streams.downstream.report_state import ReportPhase, ReportState
from streams.downstream.reporting import review_request
from streams.downstream.reviewdesk.accounts import Account, AccountFile, hash_password
from streams.downstream.reviewdesk.audit import AuditTrail
from streams.downstream.reviewdesk.identity import Gatekeeper
from streams.downstream.reviewdesk.signing import RevealTickets, SessionCodec, Signer
from streams.downstream.reviewdesk.throttle import LoginThrottle
from streams.downstream.reviewdesk.web import DeskParts, desk_application
from streams.events import AuditAction, ReviewAudit, ReviewChoice, ReviewDecision
from streams.settings import ReviewRole, ReviewSettings
from tests.support import NOW, RecordingWriter, agent_writer_of, make_verdict

PASSWORD = "correct horse battery"
AUDIT_TOPIC = "reports.audit"
PASSWORD_HASH = hash_password(PASSWORD)  # once: argon2 is slow on purpose


def _image() -> bytes:
    """A colourful image with sharp edges: blurring and graying are plain to measure."""
    image = Image.new("RGB", (64, 64), (255, 0, 0))
    for x in range(0, 64, 8):
        for y in range(0, 64, 8):
            if (x + y) // 8 % 2:
                image.paste((0, 0, 255), (x, y, x + 8, y + 8))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass
class Book:
    states: dict[str, ReportState] = field(default_factory=dict)

    def get(self, report_id: str) -> ReportState | None:
        return self.states.get(report_id)

    def pending(self) -> list[ReportState]:
        return [s for s in self.states.values() if s.phase is ReportPhase.PENDING]


@dataclass
class Desk:
    client: TestClient[web.Request, web.Application]
    book: Book
    publisher: RecordingWriter
    decisions: list[ReviewDecision]
    clock: list[float]
    report_id: str
    metrics: CollectorRegistry

    def audits(self) -> list[ReviewAudit]:
        return [ReviewAudit.decode(v) for v in self.publisher.on(AUDIT_TOPIC)]

    async def csrf(self, path: str = "/review/login") -> str:
        page = await (await self.client.get(path)).text()
        found = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert found, page
        return found.group(1)

    async def login(
        self, name: str = "alice", password: str = PASSWORD, **headers: str
    ) -> web.StreamResponse:
        token = await self.csrf()
        form = {"name": name, "password": password, "csrf": token, "next": "/review/"}
        return await self.client.post(
            "/review/login", data=form, headers=headers, allow_redirects=False
        )

    async def decide(
        self, choice: str, *, token: str | None, reason: str | None = None, **headers: str
    ) -> web.StreamResponse:
        if token is not None:
            headers["X-CSRF-Token"] = token
        return await self.client.post(
            f"/review/api/reports/{self.report_id}/{choice}",
            json={"reason": reason} if reason else {},
            headers=headers,
        )


def _settings(**overrides: object) -> ReviewSettings:
    return ReviewSettings.model_validate(
        {"login_max_failures": 3, "login_lockout_s": 60, "session_idle_s": 600, **overrides}
    )


@pytest.fixture
def accounts(tmp_path: Path) -> AccountFile:
    file = AccountFile(tmp_path / "reviewers.json")
    file.save(
        {
            "alice": Account(name="alice", role=ReviewRole.REVIEWER, password_hash=PASSWORD_HASH),
            "audrey": Account(name="audrey", role=ReviewRole.AUDITOR, password_hash=PASSWORD_HASH),
            "pat": Account(name="pat", role=ReviewRole.REVIEWER),
        }
    )
    return file


async def _desk(accounts: AccountFile, settings: ReviewSettings) -> Desk:
    clock = [1_000_000.0]
    publisher = RecordingWriter()
    review = review_request(make_verdict(1), is_test=True, now=NOW)
    book = Book(
        {
            review.report_id: ReportState(
                phase=ReportPhase.PENDING, review=review, trigger_id="v", updated_at=NOW
            )
        }
    )
    decisions: list[ReviewDecision] = []

    async def publish(decision: ReviewDecision) -> None:
        decisions.append(decision)

    async def fetch(url: str) -> bytes:
        return _image()

    signer = Signer(b"k" * 32)
    metrics = CollectorRegistry()
    parts = DeskParts(
        book=book,
        gate=Gatekeeper(
            settings,
            accounts,
            SessionCodec(signer, idle_s=settings.session_idle_s, clock=lambda: clock[0]),
            clock=lambda: clock[0],
        ),
        throttle=LoginThrottle(
            max_failures=settings.login_max_failures,
            window_s=settings.login_lockout_s,
            clock=lambda: clock[0],
        ),
        audit=AuditTrail(
            agent_writer_of(publisher), AUDIT_TOPIC, registry=metrics, clock=lambda: NOW
        ),
        tickets=RevealTickets(signer, clock=lambda: clock[0]),
        publish_decision=publish,
        fetch_image=fetch,
        clock=lambda: NOW,
    )
    root = web.Application()
    root.add_subapp("/review", desk_application(parts))
    client = TestClient(TestServer(root, host="127.0.0.1"))
    await client.start_server()
    return Desk(client, book, publisher, decisions, clock, review.report_id, metrics)


@pytest.fixture
async def desk(accounts: AccountFile) -> AsyncIterator[Desk]:
    desk = await _desk(accounts, _settings())
    yield desk
    await desk.client.close()


async def test_anonymous_requests_get_401_or_the_login_page_and_change_nothing(
    desk: Desk,
) -> None:
    api = await desk.client.get("/review/api/pending")
    page = await desk.client.get(f"/review/reports/{desk.report_id}", allow_redirects=False)
    image = await desk.client.get(f"/review/reports/{desk.report_id}/image", allow_redirects=False)
    decided = await desk.decide("approve", token=None)

    assert api.status == 401 and decided.status == 401
    assert page.status == 303 and image.status == 303
    assert page.headers["Location"] == f"/review/login?next=/review/reports/{desk.report_id}"
    assert "Log in" in await (await desk.client.get(page.headers["Location"])).text()
    assert desk.decisions == []


async def test_a_reviewer_logs_in_with_a_strict_cookie_and_the_login_is_audited(
    desk: Desk,
) -> None:
    response = await desk.login()

    assert response.status == 303 and response.headers["Location"] == "/review/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/review" in cookie
    queue = await (await desk.client.get("/review/api/pending")).json()
    (entry,) = queue["reports"]
    assert (entry["report_id"], entry["tenant"], entry["violations"]) == (
        desk.report_id,
        "acme",
        ["A1"],
    )
    (audit,) = desk.audits()
    assert (audit.action, audit.actor, audit.role, audit.via, audit.address) == (
        AuditAction.LOGIN,
        "alice",
        "reviewer",
        "password",
        "127.0.0.1",
    )


async def test_the_queue_filters_by_tenant_and_source(desk: Desk) -> None:
    await desk.login()
    other = await desk.client.get("/review/api/pending", params={"tenant": "other"})
    source = await desk.client.get("/review/api/pending", params={"source": "Test"})

    assert (await other.json())["reports"] == []
    assert (await other.json())["tenants"] == ["acme"]  # the filter's choices stay complete
    assert len((await source.json())["reports"]) == 1


async def test_every_response_carries_the_security_headers(desk: Desk) -> None:
    await desk.login()
    for path in ("/review/", "/review/login", "/review/api/pending", "/review/static/desk.js"):
        headers = (await desk.client.get(path)).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"


async def test_wrong_passwords_are_refused_audited_and_rate_limited(desk: Desk) -> None:
    for _ in range(3):
        assert (await desk.login(password="wrong password!")).status == 401
    locked = await desk.login()  # the right password, but the account is locked out

    assert locked.status == 429
    assert "Too many failed logins" in await locked.text()
    audits = desk.audits()
    assert [a.action for a in audits] == [AuditAction.LOGIN_FAILED] * 4
    assert audits[-1].detail == "too many failed logins"
    counted = desk.metrics.get_sample_value(
        "hashgate_review_desk_events_total", {"action": "login_failed"}
    )
    assert counted == 4
    desk.clock[0] += 61  # the window has passed
    assert (await desk.login()).status == 303


async def test_failed_logins_are_limited_per_address_across_names(desk: Desk) -> None:
    for name in ("mallory", "trudy", "eve"):
        assert (await desk.login(name=name, password="guess guess guess")).status == 401
    assert (await desk.login()).status == 429  # alice's account is fine, the address is not


async def test_a_decision_needs_the_csrf_token_and_the_same_site(desk: Desk) -> None:
    await desk.login()
    token = await desk.csrf("/review/")

    without = await desk.decide("approve", token=None)
    forged = await desk.decide("approve", token="forged")
    cross_site = await desk.decide("approve", token=token, Origin="http://evil.example")
    fetched_cross_site = await desk.decide(
        "approve", token=token, **{"Sec-Fetch-Site": "cross-site"}
    )
    assert [r.status for r in (without, forged, cross_site, fetched_cross_site)] == [403] * 4
    assert desk.decisions == []

    approved = await desk.decide("approve", token=token)
    assert approved.status == 202, await approved.text()
    (decision,) = desk.decisions
    assert (decision.decision, decision.decided_by, decision.report_id) == (
        ReviewChoice.APPROVE,
        "alice",
        desk.report_id,
    )
    audit = desk.audits()[-1]
    assert (audit.action, audit.actor, audit.decision_id, audit.report_id) == (
        AuditAction.DECISION,
        "alice",
        decision.decision_id,
        desk.report_id,
    )


async def test_no_decision_is_published_when_its_audit_event_cannot_be_written(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk.login()
    token = await desk.csrf("/review/")

    async def unwritable(*args: object) -> None:
        raise RuntimeError("the audit topic cannot be written")

    monkeypatch.setattr(desk.publisher, "write", unwritable)
    response = await desk.decide("approve", token=token)

    assert response.status == 500
    assert desk.decisions == []  # a decision nobody could account for is worse than none


async def test_a_rejection_needs_a_reason(desk: Desk) -> None:
    await desk.login()
    token = await desk.csrf("/review/")
    assert (await desk.decide("reject", token=token)).status == 400
    rejected = await desk.decide("reject", token=token, reason="benign test image")
    assert rejected.status == 202
    assert desk.decisions[0].reason == "benign test image"


async def test_an_auditor_reads_but_cannot_decide(desk: Desk) -> None:
    await desk.login("audrey")
    token = await desk.csrf("/review/")
    page = await (await desk.client.get(f"/review/reports/{desk.report_id}")).text()

    refused = await desk.decide("approve", token=token)
    assert refused.status == 403
    assert "auditor accounts cannot decide" in (await refused.json())["error"]
    assert desk.decisions == []
    assert 'id="approve"' not in page and "Read only" in page


async def test_the_image_is_blurred_grayscale_until_revealed_and_each_reveal_is_audited(
    desk: Desk,
) -> None:
    await desk.login()
    token = await desk.csrf("/review/")
    blurred = await desk.client.get(f"/review/reports/{desk.report_id}/image")
    assert blurred.headers["Content-Type"] == "image/jpeg"
    assert blurred.headers["Cache-Control"] == "no-store"
    shown = Image.open(io.BytesIO(await blurred.read()))
    assert shown.mode == "L"  # grayscale
    darkest, brightest = shown.getextrema()
    assert brightest - darkest < 60  # the checkerboard's edges are gone

    no_ticket = await desk.client.get(f"/review/reports/{desk.report_id}/image/clear")
    assert no_ticket.status == 403
    revealed = await desk.client.post(
        f"/review/reports/{desk.report_id}/reveal", headers={"X-CSRF-Token": token}
    )
    url = (await revealed.json())["url"]
    clear = Image.open(io.BytesIO(await (await desk.client.get(url)).read()))
    assert clear.mode == "RGB" and clear.getpixel((4, 4))[0] > 200  # red, sharp
    assert (await desk.client.get(url)).status == 403  # a ticket is good for one load
    audit = desk.audits()[-1]
    assert (audit.action, audit.report_id, audit.content_id) == (
        AuditAction.REVEAL,
        desk.report_id,
        "content-1",
    )


async def test_a_tampered_session_cookie_is_refused(desk: Desk) -> None:
    response = await desk.login("audrey")
    payload, signature = response.cookies["hashgate_review"].value.split(".")
    session = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert session["user"] == "audrey"
    session["user"] = "alice"  # an auditor's signature on a reviewer's session
    promoted = base64.urlsafe_b64encode(json.dumps(session).encode()).decode().rstrip("=")
    desk.client.session.cookie_jar.update_cookies(
        {"hashgate_review": f"{promoted}.{signature}"}, response.url
    )
    assert (await desk.client.get("/review/api/pending")).status == 401


async def test_an_idle_session_ends(desk: Desk) -> None:
    await desk.login()
    assert (await desk.client.get("/review/api/pending")).status == 200
    desk.clock[0] += 599  # each request renews the idle timeout
    assert (await desk.client.get("/review/api/pending")).status == 200
    desk.clock[0] += 601
    assert (await desk.client.get("/review/api/pending")).status == 401


async def test_logging_out_is_audited_and_ends_the_session(desk: Desk) -> None:
    await desk.login()
    token = await desk.csrf("/review/")
    out = await desk.client.post("/review/logout", data={"csrf": token}, allow_redirects=False)
    assert out.status == 303
    assert (await desk.client.get("/review/api/pending")).status == 401
    assert desk.audits()[-1].action is AuditAction.LOGOUT


async def test_a_removed_account_loses_its_session(desk: Desk, accounts: AccountFile) -> None:
    await desk.login()
    reviewers = accounts.load()
    del reviewers["alice"]
    accounts.save(reviewers)
    assert (await desk.client.get("/review/api/pending")).status == 401


async def test_the_proxy_header_counts_only_from_a_trusted_proxy(accounts: AccountFile) -> None:
    header = "X-Forwarded-User"
    untrusted = await _desk(
        accounts, _settings(proxy_user_header=header, trusted_proxies=["10.0.0.0/8"])
    )
    trusted = await _desk(
        accounts, _settings(proxy_user_header=header, trusted_proxies=["127.0.0.1"])
    )
    try:
        refused = await untrusted.client.get("/review/api/pending", headers={header: "pat"})
        stranger = await trusted.client.get("/review/api/pending", headers={header: "nobody"})
        session = await trusted.client.get("/review/api/session", headers={header: "pat"})
        assert (refused.status, stranger.status, session.status) == (401, 401, 200)
        info = await session.json()
        assert (info["name"], info["role"]) == ("pat", "reviewer")
        approved = await trusted.decide("approve", token=info["csrf"], **{header: "pat"})
        assert approved.status == 202
        assert trusted.decisions[0].decided_by == "pat"
        assert trusted.audits()[-1].via == "proxy"
        no_token = await trusted.decide("approve", token=None, **{header: "pat"})
        assert no_token.status == 403

        # Refused names are failed logins; an accepted one is a login once per visit.
        (spoofed,) = untrusted.audits()
        assert (spoofed.action, spoofed.actor, spoofed.via) == (
            AuditAction.LOGIN_FAILED,
            "pat",
            "proxy",
        )
        assert spoofed.detail == "user header from an address that is not a trusted proxy"
        trail = [(a.action, a.actor, a.via) for a in trusted.audits()]
        assert trail == [
            (AuditAction.LOGIN_FAILED, "nobody", "proxy"),
            (AuditAction.LOGIN, "pat", "proxy"),
            (AuditAction.DECISION, "pat", "proxy"),
        ]
        trusted.clock[0] += 599  # still the same visit
        assert (await trusted.client.get("/review/", headers={header: "pat"})).status == 200
        trusted.clock[0] += 601  # idle longer than a session lasts: a new visit
        assert (await trusted.client.get("/review/", headers={header: "pat"})).status == 200
        logins = [a for a in trusted.audits() if a.action is AuditAction.LOGIN]
        assert [(a.actor, a.role, a.address) for a in logins] == [
            ("pat", "reviewer", "127.0.0.1")
        ] * 2
    finally:
        await untrusted.client.close()
        await trusted.client.close()


def test_behind_trusted_proxies_the_client_is_the_last_address_they_forwarded_for(
    accounts: AccountFile,
) -> None:
    gate = Gatekeeper(
        _settings(trusted_proxies=["127.0.0.1", "10.0.0.0/8"]),
        accounts,
        SessionCodec(Signer(b"k"), idle_s=1),
    )
    assert gate.client_address("127.0.0.1", ["203.0.113.7"]) == "203.0.113.7"
    # What the client wrote itself is left of what our proxies appended.
    assert gate.client_address("127.0.0.1", ["6.6.6.6, 203.0.113.7, 10.1.2.3"]) == "203.0.113.7"
    assert gate.client_address("127.0.0.1", ["6.6.6.6", "203.0.113.7"]) == "203.0.113.7"
    assert gate.client_address("127.0.0.1", [" 2001:db8::1 "]) == "2001:db8::1"
    # Nothing usable: the peer.
    assert gate.client_address("127.0.0.1", []) == "127.0.0.1"
    assert gate.client_address("127.0.0.1", ["6.6.6.6, garbage"]) == "127.0.0.1"
    assert gate.client_address("10.9.9.9", ["10.1.2.3"]) == "10.9.9.9"
    # From anyone but a trusted proxy the header is the client's own word: ignored.
    assert gate.client_address("192.0.2.1", ["203.0.113.7"]) == "192.0.2.1"
    assert gate.client_address(None, ["203.0.113.7"]) == "unknown"


async def test_behind_a_trusted_proxy_logins_are_audited_and_limited_per_real_client(
    accounts: AccountFile,
) -> None:
    desk = await _desk(accounts, _settings(trusted_proxies=["127.0.0.1"]))
    try:
        for name in ("mallory", "trudy", "eve"):
            guess = await desk.login(name, "guess guess guess", **{"X-Forwarded-For": "6.6.6.6"})
            assert guess.status == 401
        assert (await desk.login(**{"X-Forwarded-For": "6.6.6.6"})).status == 429
        # Everyone comes through the same proxy, but only the guesser is locked out.
        assert (await desk.login(**{"X-Forwarded-For": "203.0.113.7"})).status == 303
        assert [a.address for a in desk.audits()] == ["6.6.6.6"] * 4 + ["203.0.113.7"]
    finally:
        await desk.client.close()


async def test_a_proxy_only_account_cannot_log_in_with_a_password(desk: Desk) -> None:
    assert (await desk.login("pat", password="")).status == 401


async def test_login_redirects_only_inside_the_desk(desk: Desk) -> None:
    token = await desk.csrf()
    form = {"name": "alice", "password": PASSWORD, "csrf": token, "next": "//evil.example/x"}
    response = await desk.client.post("/review/login", data=form, allow_redirects=False)
    assert response.headers["Location"] == "/review/"


async def test_a_login_without_the_forms_token_is_refused(desk: Desk) -> None:
    form = {"name": "alice", "password": PASSWORD, "next": "/review/"}
    response = await desk.client.post("/review/login", data=form, allow_redirects=False)
    assert response.status == 403
    assert desk.audits() == []
