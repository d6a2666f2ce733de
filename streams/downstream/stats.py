"""The stats agent: match verdicts per tenant per UTC day, and per tenant and match source.

The day is the UTC date of the verdict's ``timings.scanned_at``, when PhotoDNA answered: the
moment the match happened for the service (what Microsoft counts), on a clock hashgate runs.
``uploaded_at`` comes from the platform, and for a rescan can be years old.

Each tenant's counts need one home, but verdicts are keyed by content id. So one loop re-keys
every match verdict by tenant onto the agent's own topic (``<group>-matches-by-tenant``), and
the counting loop reads that: a tenant's counts then live in one partition of two windowed
faust tables (tumbling, one day, aligned to UTC midnight), recovered from their changelogs on
restart. Every change is written to the compacted stats topic (newest record per key = the
figure), and ``GET /stats/matches?day=YYYY-MM-DD`` serves the counts this instance holds.

Exact counts across kill -9. With Kafka transactions (``HASHGATE_STATE__EXACTLY_ONCE``, the
default) a kill aborts the counts, marks and figures of the records it cut off together. Without
them, a guard keeps the counts exact: a count lives in one table and the
loop's "seen" mark in another, so a kill can keep one changelog record and lose the other;
and the re-keying loop, killed before its ack, re-sends a suffix of what it sent, at new
offsets of the by-tenant topic. So each re-keyed record carries where its verdict sat (the
``hashgate-source-partition`` and ``-offset`` headers), and each count keeps, in the same
table value, the highest source offset it has counted per source partition. One tenant's
records from one source partition reach the counter in source-offset order (the re-keying
loop handles them one at a time, each write confirmed before the next), and a replay
re-sends a suffix: a record at or below the stored offset is already in that count and is
skipped. Count and guard are one value, one changelog record: they cannot part. The
``verdict_id`` "seen" mark still catches the worker's own duplicates (one verdict at two
source offsets).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol, cast

import click
import faust
from faust.tables.wrappers import WindowWrapper
from faust.web import Request, Response, View

from streams.downstream.app import DownstreamApp
from streams.downstream.base import VerdictSink
from streams.events import MatchCount, Verdict
from streams.events.topics import STATS
from streams.kafka.app import assigned, partition_count
from streams.kafka.confirmed import ConfirmedWriter
from streams.kafka.record import SourceRecord
from streams.settings import Settings, load_settings

log = logging.getLogger(__name__)

ROLE = "stats"
DAY = timedelta(days=1)


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def day_start(day: date) -> float:
    return datetime.combine(day, time(), tzinfo=UTC).timestamp()


#: Where a re-keyed verdict sat on the match topic: the counter's replay guard.
SOURCE_PARTITION_HEADER = "hashgate-source-partition"
SOURCE_OFFSET_HEADER = "hashgate-source-offset"


@dataclass(frozen=True)
class DayCount:
    """One count and its replay guard, stored as one table value so they change together:
    ``counted`` maps a source partition to the highest offset already in ``matches``."""

    matches: int = 0
    counted: dict[int, int] = field(default_factory=dict)

    @classmethod
    def load(cls, raw: object) -> DayCount:
        """From the table: a JSON object, or a bare int written before the guard existed."""
        if isinstance(raw, int):
            return cls(raw)
        value = cast(dict[str, Any], raw)
        counted = {int(p): int(o) for p, o in value.get("counted", {}).items()}
        return cls(int(value.get("matches", 0)), counted)

    def dump(self) -> dict[str, Any]:
        return {"matches": self.matches, "counted": {str(p): o for p, o in self.counted.items()}}

    def holds(self, place: tuple[int, int] | None) -> bool:
        """Whether the record at ``place`` (source partition, offset) is already counted."""
        if place is None:
            return False
        partition, offset = place
        return offset <= self.counted.get(partition, -1)

    def plus_one(self, place: tuple[int, int] | None) -> DayCount:
        counted = dict(self.counted)
        if place is not None:
            counted[place[0]] = place[1]
        return DayCount(self.matches + 1, counted)


class DailyCounts(Protocol):
    def get(self, key: Hashable, day: date) -> DayCount: ...

    def put(self, key: Hashable, day: date, count: DayCount) -> None: ...

    def on_day(self, day: date) -> dict[Hashable, int]: ...


class WindowedDailyCounts:
    """Counts in a faust table with tumbling one-day windows (``app.Table(...).tumbling``)."""

    def __init__(self, windowed: WindowWrapper) -> None:
        self._windowed = windowed

    def get(self, key: Hashable, day: date) -> DayCount:
        return DayCount.load(self._windowed.relative_to(day_start(day))[key].value())

    def put(self, key: Hashable, day: date, count: DayCount) -> None:
        """Must run while a record is handled: faust logs the change to its partition."""
        self._windowed.relative_to(day_start(day))[key] = count.dump()

    def on_day(self, day: date) -> dict[Hashable, int]:
        """Read back from RocksDB, keys come as JSON decodes them: a tuple key as a list."""
        start = day_start(day)
        return {
            tuple(key) if isinstance(key, list) else key: DayCount.load(value).matches
            for (key, (window_start, _end)), value in self._windowed.table.items()
            if window_start == start
        }


def source_headers(source: SourceRecord) -> list[tuple[str, bytes]]:
    return [
        (SOURCE_PARTITION_HEADER, str(source.partition).encode()),
        (SOURCE_OFFSET_HEADER, str(source.offset).encode()),
    ]


def source_place(record: SourceRecord) -> tuple[int, int] | None:
    """The (partition, offset) a re-keyed verdict came from; None for a record without the
    headers (re-keyed before they existed), which only the "seen" mark de-duplicates."""
    partition = record.int_header(SOURCE_PARTITION_HEADER, -1)
    offset = record.int_header(SOURCE_OFFSET_HEADER, -1)
    return (partition, offset) if partition >= 0 and offset >= 0 else None


class TenantRepartition(VerdictSink):
    """Re-keys match verdicts by tenant, so each tenant is counted in one partition; the
    record says where the verdict sat, for the counter's replay guard."""

    def __init__(self, writer: ConfirmedWriter, topic: str) -> None:
        self._writer = writer
        self._topic = topic

    async def handle_match(self, verdict: Verdict, source: SourceRecord) -> None:
        await self._writer.write(
            self._topic, verdict.tenant.encode(), verdict.encode(), source_headers(source)
        )


class MatchCounter(VerdictSink):
    def __init__(
        self,
        by_tenant: DailyCounts,
        by_source: DailyCounts,
        writer: ConfirmedWriter,
        topic: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._by_tenant = by_tenant
        self._by_source = by_source
        self._writer = writer
        self._topic = topic
        self._now = clock

    async def handle_match(self, verdict: Verdict, source: SourceRecord) -> None:
        day = day_of(verdict.timings.scanned_at)
        tenant = verdict.tenant
        place = source_place(source)
        keys: list[tuple[DailyCounts, Hashable, str | None]] = [(self._by_tenant, tenant, None)]
        for name in sorted({m.source for m in verdict.matches}):
            keys.append((self._by_source, (tenant, name), name))
        # Each key is guarded on its own: the two tables have two changelogs, so a kill can
        # keep the one count and not the other, and the replay then adds only the missing one.
        bumps = [
            (counts, key, match_source, count.plus_one(place))
            for counts, key, match_source in keys
            if not (count := counts.get(key, day)).holds(place)
        ]
        if len(bumps) < len(keys):
            log.info(
                "verdict already in %d of its %d counts (a replayed record); not counted again",
                len(keys) - len(bumps),
                len(keys),
                extra={"tenant": tenant, "verdict_id": verdict.verdict_id, "source": place},
            )
        now = self._now()
        for _counts, _key, match_source, bumped in bumps:
            figure = MatchCount(
                day=day,
                tenant=tenant,
                source=match_source,
                matches=bumped.matches,
                updated_at=now,
            )
            await self._writer.write(self._topic, figure.key, figure.encode(), [])
        # The counts change only after their figures are written, and with no await between
        # these writes and the loop's seen mark.
        for counts, key, _source, bumped in bumps:
            counts.put(key, day, bumped)


def daily_report(
    day: date, by_tenant: DailyCounts, by_source: DailyCounts, coverage: dict[str, Any]
) -> dict[str, Any]:
    """The page's JSON: per tenant, the day's matches in total and by source."""
    tenants: dict[str, dict[str, Any]] = {
        str(tenant): {"matches": count, "by_source": {}}
        for tenant, count in sorted(by_tenant.on_day(day).items(), key=lambda kv: str(kv[0]))
    }
    for key, count in by_source.on_day(day).items():
        tenant, source = cast(tuple[str, str], key)
        entry = tenants.setdefault(str(tenant), {"matches": 0, "by_source": {}})
        entry["by_source"][str(source)] = count
    return {"day": day.isoformat(), "tenants": tenants, "partitions": coverage}


def partition_coverage(app: faust.App, topic: str) -> dict[str, Any]:
    """Which partitions of the by-tenant topic this instance counts: the page is complete only
    if it holds them all (one stats instance, or ask each)."""
    held = sorted(tp.partition for tp in assigned(app, {topic}))
    total = partition_count(app, topic) if held else None
    return {"held": held, "total": total, "complete": total is not None and len(held) == total}


def install_stats_page(
    app: faust.App, by_tenant: DailyCounts, by_source: DailyCounts, topic: str
) -> None:
    @app.page("/stats/matches")
    async def matches(self: View, request: Request) -> Response:
        raw = request.query.get("day")
        try:
            day = date.fromisoformat(raw) if raw else day_of(datetime.now(UTC))
        except ValueError:
            return self.error(400, "day must be YYYY-MM-DD")
        coverage = partition_coverage(app, topic)
        return self.json(daily_report(day, by_tenant, by_source, coverage))


def build_stats(settings: Settings, **faust_overrides: Any) -> DownstreamApp:
    downstream = DownstreamApp(
        settings, ROLE, STATS, exactly_once=settings.state.exactly_once, **faust_overrides
    )
    topics = downstream.settings.topics
    by_tenant_topic = f"{downstream.settings.kafka.consumer_group}-matches-by-tenant"
    downstream.writes(by_tenant_topic)
    expires = DAY * settings.stats.retention_days

    def daily(name: str) -> WindowedDailyCounts:
        table = downstream.app.Table(
            name, default=dict, options=downstream.store_options()
        ).tumbling(DAY, expires=expires)
        return WindowedDailyCounts(cast(WindowWrapper, table))

    by_tenant, by_source = daily("matches-by-tenant-day"), daily("matches-by-source-day")
    downstream.add_loop(
        f"{ROLE}.by_tenant",
        topics.verdicts_match,
        TenantRepartition(downstream.writer_for(f"{ROLE}.by_tenant"), by_tenant_topic),
        dedupe=False,
    )
    downstream.add_loop(
        f"{ROLE}.count",
        by_tenant_topic,
        MatchCounter(by_tenant, by_source, downstream.writer_for(f"{ROLE}.count"), topics.stats),
    )
    install_stats_page(downstream.app, by_tenant, by_source, by_tenant_topic)
    return downstream


@click.command(ROLE)
def stats_command() -> None:
    """Run the stats agent (match verdicts -> daily match counts per tenant and source)."""
    build_stats(load_settings()).run()
