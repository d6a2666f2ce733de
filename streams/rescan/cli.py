"""``hashgate rescan start|status`` and ``hashgate dlq replay``: the operators' commands.

Progress bars and ETAs go to stderr, results to stdout (``--json`` for scripts).
"""

from __future__ import annotations

import asyncio
import json
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from streams.errors import ReasonCode
from streams.kafka_config import check_kafka_access
from streams.observability.logging import configure_logging
from streams.rescan.dlq import ReplayFilter, ReplayReport, replay_dlq
from streams.rescan.selection import Selection, SelectionCounts, read_ids_file
from streams.rescan.start import Progress, RescanPlan, RunSummary, new_rescan_id, start_rescan
from streams.rescan.status import RescanNotFound, RescanStatus, rescan_status, tracker
from streams.settings import Settings, load_settings

#: How often ``--wait`` re-reads the rescan's outcomes.
FOLLOW_EVERY_S = 2.0


class Timestamp(click.ParamType):
    """ISO 8601; a time without a zone is taken as UTC."""

    name = "timestamp"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time (e.g. 2024-06-01T12:00:00Z)", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


TIMESTAMP = Timestamp()


def _settings() -> Settings:
    settings = load_settings()
    configure_logging(settings.log_level, settings.secrets())
    asyncio.run(check_kafka_access(settings.kafka))
    return settings


# -- rescan ------------------------------------------------------------------------------


@click.group("rescan")
def rescan_command() -> None:
    """Scan past uploads again, in the rescan lane (live uploads keep priority for quota)."""


@rescan_command.command("start")
@click.option("--since", type=TIMESTAMP, help="Uploads published at or after this time.")
@click.option("--until", type=TIMESTAMP, help="Uploads published before this time.")
@click.option("--tenant", "tenants", multiple=True, help="Only this tenant (repeatable).")
@click.option(
    "--ids-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Only these content ids (one per line).",
)
@click.option("--all", "everything", is_flag=True, help="Rescan every upload (no filter).")
@click.option("--rescan-id", help="Name the rescan (default: generated). Same id, same verdicts.")
@click.option(
    "--only-changed", is_flag=True, help="Emit only verdicts that differ from the last one."
)
@click.option("--from-topic", help="Read uploads from this topic (default: the uploads topic).")
@click.option("--dry-run", is_flag=True, help="Count what would be rescanned; publish nothing.")
@click.option("--wait", is_flag=True, help="Then follow the scanning until it is done.")
def start(
    since: datetime | None,
    until: datetime | None,
    tenants: tuple[str, ...],
    ids_file: Path | None,
    everything: bool,
    rescan_id: str | None,
    only_changed: bool,
    from_topic: str | None,
    dry_run: bool,
    wait: bool,
) -> None:
    """Select uploads and publish one rescan request per upload event."""
    try:
        selection = Selection(
            since=since,
            until=until,
            tenants=frozenset(tenants),
            content_ids=read_ids_file(ids_file) if ids_file else None,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if selection.is_everything and not everything:
        raise click.UsageError("give --since/--until, --tenant or --ids-file, or --all")
    if rescan_id is not None and not 0 < len(rescan_id) <= 256:
        raise click.UsageError("--rescan-id must be 1 to 256 characters")
    settings = _settings()
    plan = RescanPlan(rescan_id or new_rescan_id(), selection, only_changed, from_topic)
    summary = asyncio.run(_start_with_bar(settings, plan, dry_run))
    _echo_summary(summary, settings)
    if wait and not dry_run:
        _echo_status(asyncio.run(_follow(settings, plan.rescan_id)))


async def _start_with_bar(settings: Settings, plan: RescanPlan, dry_run: bool) -> RunSummary:
    """The bar counts records read from the source topic; its label, requests selected."""
    with ExitStack() as stack:
        bars: list[Any] = []

        def begin(total_records: int) -> None:
            bar = click.progressbar(
                length=total_records,
                label=f"selecting from {plan.source_topic or settings.topics.uploads}",
                show_eta=True,
                show_pos=True,
                file=click.get_text_stream("stderr"),
            )
            bars.append(stack.enter_context(bar))

        def advance(records: int, counts: SelectionCounts) -> None:
            bars[0].label = f"selected {counts.selected}"
            bars[0].update(records)

        return await start_rescan(
            settings, plan, progress=Progress(begin, advance), dry_run=dry_run
        )


def _echo_summary(summary: RunSummary, settings: Settings) -> None:
    counts = summary.counts
    skipped = (
        f"read {counts.read} of {summary.records_in_range} records in range; "
        f"{counts.invalid} not upload events, {counts.duplicates} duplicates"
    )
    if summary.dry_run:
        click.echo(f"dry run: would publish {counts.selected} rescan requests ({skipped})")
        return
    click.echo(
        f"rescan {summary.rescan_id}: {counts.selected} requests published to "
        f"{settings.topics.rescans} ({skipped})"
    )
    click.echo(f"follow it with: hashgate rescan status {summary.rescan_id} --wait")


@rescan_command.command("status")
@click.argument("rescan_id")
@click.option("--wait", is_flag=True, help="Follow with a progress bar until it is done.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def status(rescan_id: str, wait: bool, as_json: bool) -> None:
    """Done / total / matches / errors of one rescan, and an ETA."""
    settings = _settings()
    try:
        if wait:
            result = asyncio.run(_follow(settings, rescan_id))
        else:
            result = asyncio.run(rescan_status(settings, rescan_id))
    except RescanNotFound as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        _echo_status(result)


async def _follow(settings: Settings, rescan_id: str) -> RescanStatus:
    """Polls the rescan's outcomes until every request has one."""
    async with tracker(settings, rescan_id) as following:
        current = await following.refresh()
        while current.total is None:  # still publishing
            await asyncio.sleep(FOLLOW_EVERY_S)
            current = await following.refresh()
        with click.progressbar(
            length=current.total,
            label=f"rescan {rescan_id}",
            show_eta=True,
            show_pos=True,
            item_show_func=_counts_line,
            file=click.get_text_stream("stderr"),
        ) as bar:
            shown = 0
            while True:
                bar.update(current.done - shown, current)
                shown = current.done
                if current.complete:
                    return current
                await asyncio.sleep(FOLLOW_EVERY_S)
                current = await following.refresh()


def _counts_line(status: RescanStatus | None) -> str | None:
    if status is None:
        return None
    return ", ".join(f"{count} {result.value}" for result, count in sorted(status.results.items()))


def _echo_status(status: RescanStatus) -> None:
    manifest = status.manifest
    total = "?" if status.total is None else str(status.total)
    share = f" ({100 * status.done / status.total:.1f}%)" if status.total else ""
    mode = ", only changed" if manifest.only_changed else ""
    click.echo(f"rescan {manifest.rescan_id}: {manifest.state.value}{mode}")
    click.echo(f"  done      {status.done} / {total}{share}")
    for result, count in sorted(status.results.items()):
        click.echo(f"  {result.value:<9} {count}")
    if status.complete:
        click.echo("  complete")
    elif status.eta_s is not None and status.rate is not None:
        click.echo(f"  rate      {status.rate:.1f}/s, about {_duration(status.eta_s)} left")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


# -- dlq ---------------------------------------------------------------------------------


@click.group("dlq")
def dlq_command() -> None:
    """The dead-letter topic: replay records after an outage or a fix."""


@dlq_command.command("replay")
@click.option(
    "--reason",
    "reasons",
    multiple=True,
    type=click.Choice([reason.value for reason in ReasonCode]),
    help="Only this reason (repeatable; default: any).",
)
@click.option("--since", type=TIMESTAMP, help="DLQ records written at or after this time.")
@click.option("--until", type=TIMESTAMP, help="DLQ records written before this time.")
@click.option(
    "--retryable-only/--any-reason",
    default=True,
    show_default=True,
    help="Skip records whose reason is permanent (e.g. not_an_image).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be replayed; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def replay(
    reasons: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    retryable_only: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Re-inject DLQ records into the lane they came from, original bytes unchanged.

    Each DLQ record is replayed once: records an earlier run replayed are skipped
    (already_replayed), so running it again never sends a replay that is on its way.
    """
    rules = ReplayFilter(
        reasons=frozenset(ReasonCode(reason) for reason in reasons),
        retryable_only=retryable_only,
        since=since,
        until=until,
    )
    report = asyncio.run(replay_dlq(_settings(), rules, dry_run=dry_run))
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _echo_replay(report)


def _echo_replay(report: ReplayReport) -> None:
    verb = "would replay" if report.dry_run else "replayed"
    click.echo(f"{verb} {report.total_replayed} of {report.records_in_range} DLQ records in range")
    for (reason, topic), count in sorted(report.replayed.items()):
        click.echo(f"  {count:>7}  {reason} -> {topic}")
    for skip, count in sorted(report.skipped.items()):
        click.echo(f"  {count:>7}  skipped: {skip.value}")
