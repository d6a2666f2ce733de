"""The review desk in a real headless Chromium, on a real match from the worker and the broker.

One scenario, end to end: an upload of a known image is scanned by the worker against the
simulator, the reporting agent opens a report, a reviewer logs in, finds it in the queue, sees
it blurred and in grayscale, reveals it (it blurs again on Esc and when the mouse leaves it), and
approves it with the keyboard; the decision is on ``reports.decisions``, the report is filed to
the simulator and the audit topic holds the login, the reveals and the decision. On the way, a
cross-site form post from another site, carrying the reviewer's browser, changes nothing; the
reject shortcut sends a rejection (refused: the report is filed by then); an auditor cannot
decide.

Set HASHGATE_SCREENSHOTS_DIR to keep the screenshots the README shows.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from hashgate_tools.harness.downstream import DownstreamSetup
from hashgate_tools.harness.kafka import produce
from hashgate_tools.harness.worker import ScanSetup, records_of, upload
from streams.downstream.reviewdesk.accounts import Account, AccountFile, hash_password
from streams.events import (
    AuditAction,
    ReportOutcome,
    ReportStatus,
    ReviewAudit,
    ReviewChoice,
    ReviewDecision,
    ReviewRequest,
)
from streams.settings import ReviewRole
from tests.integration.browser import chromium, is_grayscale, shown_image, strongest_edge, wait_for
from tests.integration.reporting_support import reporting_env

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.integration.scan_fixtures",
    "tests.integration.downstream_fixtures",
]

T = TypeVar("T")
PASSWORD = "correct horse battery"


async def in_thread(step: Callable[[], T]) -> T:
    """Selenium blocks; the image server the agent fetches from lives on this event loop."""
    return await asyncio.to_thread(step)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path / "chromium-profile")
    yield driver
    driver.quit()


class EvilSite:
    """Another site (``localhost``, not ``127.0.0.1``) whose page posts a form to the desk."""

    def __init__(self, target: str) -> None:
        page = (
            f'<form id="f" method="post" action="{target}"><input name="reason" value="x">'
            '</form><script>document.getElementById("f").submit()</script>'
        ).encode()

        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        self.url = f"http://localhost:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def save(driver: webdriver.Chrome, tmp_path: Path, name: str) -> None:
    driver.save_screenshot(str(tmp_path / name))
    if folder := os.environ.get("HASHGATE_SCREENSHOTS_DIR"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def log_in(driver: webdriver.Chrome, desk: str, name: str) -> None:
    driver.delete_all_cookies()
    driver.get(desk.rstrip("/"))  # /review leads to /review/, which leads to the login page
    wait_for(driver, lambda d: "/review/login" in d.current_url)
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD, Keys.ENTER)
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "span.who"))


async def test_a_reviewer_reveals_and_approves_a_real_match_in_the_browser(
    scan: ScanSetup,
    downstream: DownstreamSetup,
    browser: webdriver.Chrome,
    tmp_path: Path,
) -> None:
    accounts = AccountFile(tmp_path / "reviewers.json")
    password_hash = hash_password(PASSWORD)
    accounts.save(
        {
            name: Account(name=name, role=role, password_hash=password_hash)
            for name, role in (("alice", ReviewRole.REVIEWER), ("audrey", ReviewRole.AUDITOR))
        }
    )
    worker = scan.start_worker()
    agent = downstream.start_agent(
        "reporting",
        **reporting_env(scan.simulator),
        HASHGATE_TOPICS__VERDICTS_MATCH=scan.topics.name("verdicts_match"),
        HASHGATE_REVIEW__ACCOUNTS_FILE=str(accounts.path),
    )
    await asyncio.gather(worker.wait_ready(), agent.wait_ready())
    desk = f"{agent.url}/review/"

    # The open queue shows the report made from the worker's real match, without a reload.
    await in_thread(lambda: log_in(browser, desk, "alice"))
    queue_page = await in_thread(lambda: browser.find_element(By.ID, "queue"))
    known = scan.images.url(scan.images.images.known[0])
    await produce(scan.bootstrap, scan.topics.name("uploads"), records_of([upload(1, known)]))
    row = await in_thread(
        lambda: wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "tr[data-report]"), 90)
    )
    assert queue_page.is_displayed()  # the same page: a reload would have replaced it
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    (review,) = await downstream.read("reports_review", ReviewRequest)
    assert cells[1:6] == ["acme", "content-000001", "Test", "A1", "0"]
    assert cells[6] == review.tracking_id  # the simulator's TrackingId of the match
    await in_thread(lambda: save(browser, tmp_path, "review-desk-queue.png"))

    # A form on another site, posted by the reviewer's own browser, changes nothing.
    evil = EvilSite(f"{agent.url}/review/api/reports/{review.report_id}/approve")
    try:
        await in_thread(lambda: browser.get(evil.url))
        # The desk's answer: SameSite=Strict kept the session cookie off the cross-site post.
        await in_thread(
            lambda: wait_for(
                browser,
                lambda d: d.current_url.startswith(agent.url) and "log in first" in d.page_source,
            )
        )
    finally:
        evil.close()
    assert await downstream.read("reports_decisions", ReviewDecision) == []

    # The report page: blurred grayscale until revealed, blurred again on leaving.
    await in_thread(lambda: browser.get(desk))
    link = await in_thread(
        lambda: wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "tr[data-report] a"))
    )
    await in_thread(link.click)
    image = await in_thread(lambda: wait_for(browser, lambda d: d.find_element(By.ID, "evidence")))
    await in_thread(
        lambda: wait_for(
            browser,
            lambda d: d.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth > 0", image
            ),
        )
    )
    blurred = await in_thread(lambda: shown_image(image))
    assert is_grayscale(blurred) and strongest_edge(blurred) < 40
    await in_thread(lambda: save(browser, tmp_path, "review-desk-report-blurred.png"))

    def shown_clear(driver: webdriver.Chrome) -> bool:
        return "revealed" in (image.get_attribute("class") or "") and driver.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", image
        )

    def shown_blurred(driver: webdriver.Chrome) -> bool:
        return "blurred" in (image.get_attribute("class") or "")

    await in_thread(lambda: browser.find_element(By.ID, "reveal").click())
    await in_thread(lambda: wait_for(browser, shown_clear))
    revealed = await in_thread(lambda: shown_image(image))
    assert not is_grayscale(revealed) and strongest_edge(revealed) > 100
    await in_thread(lambda: browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE))
    await in_thread(lambda: wait_for(browser, shown_blurred))
    # Revealed again (with its shortcut), then the mouse goes over the image and off it.
    await in_thread(lambda: browser.find_element(By.TAG_NAME, "body").send_keys("v"))
    await in_thread(lambda: wait_for(browser, shown_clear))
    heading = await in_thread(lambda: browser.find_element(By.TAG_NAME, "h1"))
    await in_thread(
        lambda: ActionChains(browser).move_to_element(image).move_to_element(heading).perform()
    )
    await in_thread(lambda: wait_for(browser, shown_blurred))

    # Approve with the keyboard: the decision is published, the report filed.
    await in_thread(lambda: browser.find_element(By.TAG_NAME, "body").send_keys("a"))
    status = await in_thread(
        lambda: wait_for(browser, lambda d: d.find_element(By.ID, "status").text or None)
    )
    assert status.startswith("Approved: decision ")
    await downstream.wait_consumed("reporting", downstream.topics.name("reports_decisions"), 1)
    (decision,) = await downstream.read("reports_decisions", ReviewDecision)
    assert (decision.decision, decision.decided_by, decision.report_id) == (
        ReviewChoice.APPROVE,
        "alice",
        review.report_id,
    )
    assert status == f"Approved: decision {decision.decision_id}"
    (outcome,) = await downstream.read("reports_outcomes", ReportOutcome)
    assert (outcome.status, outcome.decided_by) == (ReportStatus.FILED, "alice")
    (filed,) = await scan.admin.reports()
    assert {"Key": "HashgateReportId", "Value": review.report_id} in filed.body[
        "AdditionalMetadata"
    ]
    assert filed.tracking_id == outcome.tracking_id

    # The reject shortcut: `r` goes to the reason, Ctrl+Enter sends it. The report is filed by
    # now (its outcome is out), so the desk refuses, and says so.
    await in_thread(lambda: browser.find_element(By.TAG_NAME, "body").send_keys("r"))
    reason = await in_thread(lambda: browser.switch_to.active_element)
    assert reason.get_attribute("id") == "reason"
    await in_thread(
        lambda: (
            ActionChains(browser)
            .send_keys("a duplicate")
            .key_down(Keys.CONTROL)
            .send_keys(Keys.ENTER)
            .key_up(Keys.CONTROL)
            .perform()
        )
    )
    await in_thread(
        lambda: wait_for(browser, lambda d: d.find_element(By.ID, "status").text != status)
    )
    assert browser.find_element(By.ID, "status").text == "report already filed"

    # An auditor sees the report but has no way to decide.
    await in_thread(lambda: log_in(browser, desk, "audrey"))
    await in_thread(lambda: browser.get(f"{desk}reports/{review.report_id}"))
    await in_thread(lambda: wait_for(browser, lambda d: d.find_element(By.ID, "evidence")))
    assert browser.find_elements(By.ID, "approve") == []
    refused = await in_thread(
        lambda: browser.execute_async_script(
            """const done = arguments[arguments.length - 1];
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            fetch(arguments[0], {method: "POST", headers: {"X-CSRF-Token": csrf}})
              .then((r) => done(r.status));""",
            f"/review/api/reports/{review.report_id}/reject",
        )
    )
    assert refused == 403
    assert len(await downstream.read("reports_decisions", ReviewDecision)) == 1

    # Keyed by actor, so one partition per reviewer: put the trail in time order.
    audits = sorted(await downstream.read("reports_audit", ReviewAudit), key=lambda a: a.at)
    trail = [(a.action, a.actor) for a in audits if a.action is not AuditAction.LOGOUT]
    assert trail == [
        (AuditAction.LOGIN, "alice"),
        (AuditAction.REVEAL, "alice"),
        (AuditAction.REVEAL, "alice"),
        (AuditAction.DECISION, "alice"),
        (AuditAction.LOGIN, "audrey"),
    ]
    assert all(a.address == "127.0.0.1" for a in audits)
    assert audits[3].decision_id == decision.decision_id
