"""The stats agent: match verdicts per tenant per UTC day, and per tenant and match source.

The day is the UTC date of the verdict's ``timings.scanned_at``, when PhotoDNA answered: the
moment the match happened for the service (what Microsoft counts), on a clock hashgate runs.
``uploaded_at`` comes from the platform, and for a rescan can be years old.

Each tenant's counts need one home, but verdicts are keyed by content id. So one loop re-keys
every match verdict by tenant onto the agent's own topic (``<group>-matches-by-tenant``), and
the counting loop reads that: a tenant's counts then live in one partition of two windowed
faust tables (tumbling, one day, aligned to UTC midnight), recovered from their changelogs on
restart. Counting is idempotent by verdict_id: the loop's seen table shares the partition.
Every change is written to the compacted stats topic (newest record per key = the figure),
and ``GET /stats/matches?day=YYYY-MM-DD`` serves the counts this instance holds.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Hashable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol, cast

import click
import faust
from faust.exceptions import ConsumerNotStarted
from faust.tables.wrappers import WindowWrapper
from faust.web import Request, Response, View

from streams.downstream.app import DownstreamApp
from streams.downstream.base import VerdictSink
from streams.downstream.emitter import Emitter
from streams.events import MatchCount, Verdict
from streams.events.topics import BY_SETTING
from streams.settings import Settings, load_settings

ROLE = "stats"
DAY = timedelta(days=1)


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def day_start(day: date) -> float:
    return datetime.combine(day, time(), tzinfo=UTC).timestamp()


class DailyCounts(Protocol):
    def get(self, key: Hashable, day: date) -> int: ...

    def add(self, key: Hashable, day: date) -> None: ...

    def on_day(self, day: date) -> dict[Hashable, int]: ...


class WindowedDailyCounts:
    """Counts in a faust table with tumbling one-day windows (``app.Table(...).tumbling``)."""

    def __init__(self, windowed: WindowWrapper) -> None:
        self._windowed = windowed

    def get(self, key: Hashable, day: date) -> int:
        return int(self._windowed.relative_to(day_start(day))[key].value())

    def add(self, key: Hashable, day: date) -> None:
        """Must run while a record is handled: faust logs the change to its partition."""
        self._windowed.relative_to(day_start(day))[key].apply(operator.add, 1)

    def on_day(self, day: date) -> dict[Hashable, int]:
        """Read back from RocksDB, keys come as JSON decodes them: a tuple key as a list."""
        start = day_start(day)
        return {
            tuple(key) if isinstance(key, list) else key: int(count)
            for (key, (window_start, _end)), count in self._windowed.table.items()
            if window_start == start
        }


class TenantRepartition(VerdictSink):
    """Re-keys match verdicts by tenant, so each tenant is counted in one partition."""

    def __init__(self, emitter: Emitter, topic: str) -> None:
        self._emitter = emitter
        self._topic = topic

    async def handle_match(self, verdict: Verdict) -> None:
        await self._emitter.emit(self._topic, verdict.tenant.encode(), verdict)


class MatchCounter(VerdictSink):
    def __init__(
        self,
        by_tenant: DailyCounts,
        by_source: DailyCounts,
        emitter: Emitter,
        topic: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._by_tenant = by_tenant
        self._by_source = by_source
        self._emitter = emitter
        self._topic = topic
        self._now = clock

    async def handle_match(self, verdict: Verdict) -> None:
        day = day_of(verdict.timings.scanned_at)
        tenant = verdict.tenant
        bumps: list[tuple[DailyCounts, Hashable, str | None]] = [(self._by_tenant, tenant, None)]
        for match_source in sorted({m.source for m in verdict.matches}):
            bumps.append((self._by_source, (tenant, match_source), match_source))
        now = self._now()
        for counts, key, source in bumps:
            figure = MatchCount(
                day=day,
                tenant=tenant,
                source=source,
                matches=counts.get(key, day) + 1,
                updated_at=now,
            )
            await self._emitter.emit(self._topic, figure.key, figure)
        # The counts change only after their figures are written, and with no await between
        # these writes and the loop's seen mark: both reach the changelog together.
        for counts, key, _source in bumps:
            counts.add(key, day)


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
    held: list[int] = []
    with contextlib.suppress(ConsumerNotStarted):
        held = sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == topic)
    total = app.consumer.topic_partitions(topic) if held else None
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


def build_stats(settings: Settings, **faust_overrides: object) -> DownstreamApp:
    downstream = DownstreamApp(settings, ROLE, **faust_overrides)
    topics = downstream.settings.topics
    by_tenant_topic = f"{downstream.settings.kafka.consumer_group}-matches-by-tenant"
    downstream.writes(topics.stats, BY_SETTING["stats"].configs())
    downstream.writes(by_tenant_topic)
    expires = DAY * settings.stats.retention_days

    def daily(name: str) -> WindowedDailyCounts:
        table = downstream.app.Table(name, default=int).tumbling(DAY, expires=expires)
        return WindowedDailyCounts(cast(WindowWrapper, table))

    by_tenant, by_source = daily("matches-by-tenant-day"), daily("matches-by-source-day")
    downstream.add_loop(
        f"{ROLE}.by_tenant",
        topics.verdicts_match,
        TenantRepartition(downstream.emitter(f"{ROLE}.by_tenant"), by_tenant_topic),
        dedupe=False,
    )
    downstream.add_loop(
        f"{ROLE}.count",
        by_tenant_topic,
        MatchCounter(by_tenant, by_source, downstream.emitter(f"{ROLE}.count"), topics.stats),
    )
    install_stats_page(downstream.app, by_tenant, by_source, by_tenant_topic)
    return downstream


@click.command(ROLE)
def stats_command() -> None:
    """Run the stats agent (match verdicts -> daily match counts per tenant and source)."""
    build_stats(load_settings()).run()
