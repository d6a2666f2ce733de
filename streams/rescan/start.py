"""Starting a rescan: select past uploads and publish one RescanRequest per upload event.

The run is bracketed by two manifests on the status topic: ``selecting`` before the first
request (with where its outcomes will start), ``published`` with the total once the broker has
acknowledged every request. A run that dies in between leaves ``selecting``; running it again
with the same rescan id is safe, because verdict ids derive from event id and rescan id.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from streams.events import RescanRequest
from streams.events.rescan import RescanManifest, RunState, SelectionInfo
from streams.events.topics import (
    RESCAN_START,
    topic_name,
    topics_of,
)
from streams.kafka.confirmed import WindowedWriter, windowed_writer
from streams.kafka.spans import Reader, partitions_of, plan_spans, read_spans
from streams.kafka.spans import reader as kafka_reader
from streams.kafka.topics import ensure_topics
from streams.rescan.selection import Selection, SelectionCounts, Selector
from streams.settings import Settings


def new_rescan_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"rs-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RescanPlan:
    rescan_id: str
    selection: Selection
    only_changed: bool = False
    source_topic: str | None = None  # default: the uploads topic


@dataclass
class Progress:
    """Callbacks for a progress display: the records to read, then each batch read."""

    begin: Callable[[int], None] = lambda total_records: None
    advance: Callable[[int, SelectionCounts], None] = lambda records, counts: None


@dataclass
class RunSummary:
    rescan_id: str
    counts: SelectionCounts
    manifest: RescanManifest | None = None  # None for a dry run
    records_in_range: int = 0
    dry_run: bool = False


async def start_rescan(
    settings: Settings, plan: RescanPlan, *, progress: Progress | None = None, dry_run: bool = False
) -> RunSummary:
    """Publishes the run's requests; a dry run only counts them."""
    progress = progress or Progress()
    source = plan.source_topic or settings.topics.uploads
    if not dry_run:
        await ensure_topics(settings, topics_of(settings.topics, RESCAN_START))
    selector = Selector(plan.selection)
    async with kafka_reader(settings) as consumer, windowed_writer(settings) as sender:
        spans = await plan_spans(
            consumer,
            source,
            await partitions_of(settings, source),
            since=plan.selection.since,
            until=plan.selection.until,
        )
        summary = RunSummary(plan.rescan_id, selector.counts, dry_run=dry_run)
        summary.records_in_range = sum(span.size for span in spans)
        progress.begin(summary.records_in_range)
        manifest = (
            None if dry_run else _manifest(plan, source, await _outcomes_start(consumer, settings))
        )
        if manifest is not None:
            await _write_manifest(sender, settings, manifest)
        async for batch in read_spans(consumer, spans):
            for record in batch:
                upload = selector.pick(record.value, record.timestamp)
                if upload is not None and manifest is not None:
                    request = RescanRequest(
                        rescan_id=plan.rescan_id,
                        requested_at=manifest.requested_at,
                        only_changed=plan.only_changed,
                        upload=upload,
                    )
                    await sender.write(settings.topics.rescans, upload.key, request.encode(), [])
            progress.advance(len(batch), selector.counts)
        if manifest is None:
            return summary
        await sender.flush()  # "published" only once every request is acknowledged
        summary.manifest = manifest.model_copy(
            update={
                "state": RunState.PUBLISHED,
                "total": selector.counts.selected,
                "invalid": selector.counts.invalid,
                "duplicates": selector.counts.duplicates,
                "published_at": datetime.now(UTC),
            }
        )
        await _write_manifest(sender, settings, summary.manifest)
    return summary


async def _outcomes_start(consumer: Reader, settings: Settings) -> dict[int, int]:
    """Where this run's outcomes will start: the progress topic's end offsets, now."""
    topic = topic_name(settings.topics, "rescans_progress")
    spans = await plan_spans(consumer, topic, await partitions_of(settings, topic))
    return {span.partition: span.end for span in spans}


def _manifest(plan: RescanPlan, source: str, progress_from: dict[int, int]) -> RescanManifest:
    selection = plan.selection
    return RescanManifest(
        rescan_id=plan.rescan_id,
        state=RunState.SELECTING,
        requested_at=datetime.now(UTC),
        only_changed=plan.only_changed,
        selection=SelectionInfo(
            source_topic=source,
            since=selection.since,
            until=selection.until,
            tenants=sorted(selection.tenants),
            content_ids=None if selection.content_ids is None else len(selection.content_ids),
        ),
        progress_from=progress_from,
    )


async def _write_manifest(
    sender: WindowedWriter, settings: Settings, manifest: RescanManifest
) -> None:
    await sender.write(
        topic_name(settings.topics, "rescans_status"), manifest.key, manifest.encode(), []
    )
    await sender.flush()
