"""``hashgate reports``: the human review gate of NCMEC reports, from a terminal.

``pending`` lists the reports that are not yet filed or rejected; ``approve ID`` and ``reject ID
--reason TEXT`` publish a decision to ``reports.decisions`` (keyed by the content id, so it
reaches the agent instance holding the report), which the reporting agent acts on.
"""

from __future__ import annotations

import asyncio
import getpass
import json

import click

from streams.downstream.decisions import make_decision
from streams.downstream.report_log import PAST_TENSE, ReportView, read_views
from streams.downstream.review_pages import review_summary
from streams.events import ReviewChoice, ReviewDecision
from streams.kafka.confirmed import windowed_writer
from streams.settings import Settings, load_settings


@click.group("reports")
def reports_command() -> None:
    """Review NCMEC reports: list the pending ones, approve or reject them."""


@reports_command.command("pending")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def pending(as_json: bool) -> None:
    """Reports not yet filed or rejected, oldest first."""
    settings = load_settings()
    views = asyncio.run(read_views(settings.kafka, settings.topics))
    open_views = sorted(
        (v for v in views.values() if not v.closed), key=lambda v: v.review.requested_at
    )
    for view in open_views:
        entry = {**review_summary(view.review), "status": view.status}
        if as_json:
            click.echo(json.dumps(entry))
        else:
            matched = ", ".join(
                f"{m['source']}:{'/'.join(m['violations'])}" for m in entry["matches"]
            )
            click.echo(
                f"{entry['report_id']}  {entry['tenant']}  {entry['content_id']}  "
                f"[{matched}]  {entry['requested_at']}  {entry['status']}"
            )
    if not as_json:
        click.echo(f"{len(open_views)} report(s) pending", err=True)


@reports_command.command("approve")
@click.argument("report_id")
@click.option("--by", default=getpass.getuser, show_default="your user name", help="Reviewer.")
def approve(report_id: str, by: str) -> None:
    """Approve a report: the reporting agent files it with NCMEC through PhotoDNA."""
    _decide(load_settings(), report_id, ReviewChoice.APPROVE, by=by, reason=None)


@reports_command.command("reject")
@click.argument("report_id")
@click.option("--reason", required=True, help="Why it is not reported (kept in the outcome).")
@click.option("--by", default=getpass.getuser, show_default="your user name", help="Reviewer.")
def reject(report_id: str, reason: str, by: str) -> None:
    """Reject a report: it is closed without being filed."""
    _decide(load_settings(), report_id, ReviewChoice.REJECT, by=by, reason=reason)


def _decide(
    settings: Settings, report_id: str, choice: ReviewChoice, *, by: str, reason: str | None
) -> None:
    views = asyncio.run(read_views(settings.kafka, settings.topics))
    view = _decidable(report_id, views.get(report_id))
    if choice is ReviewChoice.REJECT and not (reason or "").strip():
        raise click.UsageError("a rejection needs a non-empty --reason")
    decision = make_decision(view.review, choice, by=by, reason=reason)
    asyncio.run(_publish(settings, decision))
    click.echo(f"{PAST_TENSE[choice]} report {report_id} (decision {decision.decision_id})")


def _decidable(report_id: str, view: ReportView | None) -> ReportView:
    if view is None:
        raise click.ClickException(
            f"no report {report_id} was sent for review; `hashgate reports pending` lists them"
        )
    if view.closed:
        raise click.ClickException(f"report {report_id} is already {view.status}")
    return view


async def _publish(settings: Settings, decision: ReviewDecision) -> None:
    async with windowed_writer(settings) as writer:  # confirmed when the block ends
        topic, key = settings.topics.reports_decisions, decision.content_id.encode()
        await writer.write(topic, key, decision.encode(), [])
