"""Daily match counts: the UTC day of scanned_at, per tenant and per tenant and source, each
verdict counted once however often it is replayed."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, date, datetime

import pytest

from streams.downstream.base import DownstreamLoop
from streams.downstream.metrics import DownstreamMetrics
from streams.downstream.stats import (
    DayCount,
    MatchCounter,
    TenantRepartition,
    daily_report,
    day_of,
)
from streams.downstream.store import SeenStore
from streams.events import MatchCount, Verdict
from streams.kafka.record import SourceRecord
from tests.support import NOW, RecordingWriter, agent_writer_of, make_verdict, record_of

pytestmark = pytest.mark.unit

TOPIC = "stats.matches"
BY_TENANT = "stats-matches-by-tenant"
NOV1 = date(2026, 11, 1)


class DictCounts:
    """The DailyCounts protocol over a dict, standing in for the windowed faust table."""

    def __init__(self) -> None:
        self.values: dict[tuple[Hashable, date], DayCount] = {}

    def get(self, key: Hashable, day: date) -> DayCount:
        return self.values.get((key, day), DayCount())

    def put(self, key: Hashable, day: date, count: DayCount) -> None:
        self.values[(key, day)] = count

    def on_day(self, day: date) -> dict[Hashable, int]:
        return {k: c.matches for (k, d), c in self.values.items() if d == day}


class Stats:
    """Both loops of the agent over dicts: verdicts go in at a place on the match topic, are
    re-keyed with it, and counted; ``seen`` is the counting loop's "seen" table."""

    def __init__(self) -> None:
        self.publisher = RecordingWriter()
        self.by_tenant, self.by_source = DictCounts(), DictCounts()
        self.seen: dict[str, str] = {}
        self.repartition = TenantRepartition(agent_writer_of(self.publisher), BY_TENANT)
        counter = MatchCounter(
            self.by_tenant,
            self.by_source,
            agent_writer_of(self.publisher),
            TOPIC,
            clock=lambda: NOW,
        )
        self.count_loop = DownstreamLoop(
            "stats.count",
            counter,
            writer=agent_writer_of(self.publisher),
            dlq_topic="downstream.errors",
            metrics=DownstreamMetrics(),
            on_fatal=self._on_fatal,
            seen=SeenStore(self.seen, clock=lambda: NOW),
            clock=lambda: NOW,
        )

    async def _on_fatal(self, exc: BaseException) -> None:
        raise AssertionError(f"the loop stopped: {exc}")

    async def rekey(self, verdict: Verdict, *, partition: int = 0, offset: int) -> SourceRecord:
        """The re-keying loop's work on the verdict at ``partition``/``offset``: the record
        it puts on the by-tenant topic."""
        await self.repartition.handle(
            verdict, record_of(verdict, partition=partition, offset=offset)
        )
        _topic, key, value = self.publisher.sent[-1]
        return record_of(
            value,
            key=key or b"",
            offset=len(self.publisher.sent),
            headers=self.publisher.headers[-1],
        )

    async def count(self, record: SourceRecord) -> None:
        assert await self.count_loop.process(record)

    def figures(self) -> list[MatchCount]:
        return [MatchCount.decode(v) for v in self.publisher.on(TOPIC)]


def test_the_day_is_the_utc_date_of_the_moment() -> None:
    late = datetime.fromisoformat("2026-11-01T23:59:00+00:00")
    assert day_of(late) == date(2026, 11, 1)
    assert day_of(datetime.fromisoformat("2026-11-02T00:59:00+01:00")) == date(2026, 11, 1)


async def test_counts_split_at_utc_midnight_and_by_source() -> None:
    stats = Stats()
    before = datetime(2026, 11, 1, 23, 59, tzinfo=UTC)
    after = datetime(2026, 11, 2, 0, 1, tzinfo=UTC)
    verdicts = [
        make_verdict(1, scanned_at=before, flags=(("Test", ("A1",)),)),
        make_verdict(2, scanned_at=before, flags=(("NCMEC", ("A1",)),)),
        make_verdict(3, scanned_at=after),
        make_verdict(4, scanned_at=after, tenant="globex"),
    ]
    for offset, verdict in enumerate(verdicts):
        await stats.count(await stats.rekey(verdict, offset=offset))

    nov2 = date(2026, 11, 2)
    assert stats.by_tenant.on_day(NOV1) == {"acme": 2}
    assert stats.by_tenant.on_day(nov2) == {"acme": 1, "globex": 1}
    assert stats.by_source.on_day(NOV1) == {("acme", "Test"): 1, ("acme", "NCMEC"): 1}
    report = daily_report(NOV1, stats.by_tenant, stats.by_source, {"complete": True})
    assert report["tenants"] == {"acme": {"matches": 2, "by_source": {"NCMEC": 1, "Test": 1}}}


async def test_every_change_is_emitted_as_the_new_figure_under_a_stable_key() -> None:
    stats = Stats()

    await stats.count(await stats.rekey(make_verdict(1), offset=0))
    await stats.count(await stats.rekey(make_verdict(2), offset=1))

    latest = {f.key: f for f in stats.figures()}
    assert set(latest) == {b"acme/2026-11-01", b"acme/2026-11-01/Test"}
    assert latest[b"acme/2026-11-01"].matches == 2
    assert latest[b"acme/2026-11-01/Test"].source == "Test"


async def test_a_re_keyed_record_says_where_its_verdict_sat() -> None:
    stats = Stats()
    record = await stats.rekey(make_verdict(1), partition=3, offset=41)
    assert record.int_header("hashgate-source-partition") == 3
    assert record.int_header("hashgate-source-offset") == 41


async def test_a_replayed_suffix_is_not_counted_again_even_with_its_seen_marks_lost() -> None:
    """The re-keying loop killed before its ack re-sends what it sent, at new offsets; the
    counter's "seen" marks may be behind its counts (two changelogs)."""
    stats = Stats()
    verdicts = [make_verdict(n) for n in range(5)]
    for offset, verdict in enumerate(verdicts):
        await stats.count(await stats.rekey(verdict, offset=offset))
    stats.seen.clear()

    for offset in (2, 3, 4):  # the replay, from the last committed offset
        await stats.count(await stats.rekey(verdicts[offset], offset=offset))

    assert stats.by_tenant.on_day(NOV1) == {"acme": 5}
    assert stats.by_source.on_day(NOV1) == {("acme", "Test"): 5}
    assert max(f.matches for f in stats.figures()) == 5
    assert len(stats.figures()) == 10  # no figure written for the skipped records


async def test_a_count_kept_without_its_sibling_gets_only_the_missing_one() -> None:
    """The tenant count and the per-source count are two tables: a kill can keep one."""
    stats = Stats()
    verdict = make_verdict(1)
    record = await stats.rekey(verdict, offset=7)
    stats.by_tenant.put("acme", NOV1, DayCount(1, {0: 7}))  # only this one reached the disk

    await stats.count(record)

    assert stats.by_tenant.on_day(NOV1) == {"acme": 1}
    assert stats.by_source.on_day(NOV1) == {("acme", "Test"): 1}
    assert [(f.source, f.matches) for f in stats.figures()] == [("Test", 1)]


async def test_the_workers_own_duplicate_counts_once() -> None:
    """One verdict at two offsets of the match topic (the worker's retry): the "seen" mark."""
    stats = Stats()
    verdict = make_verdict(1)
    await stats.count(await stats.rekey(verdict, offset=3))
    await stats.count(await stats.rekey(verdict, offset=9))

    assert stats.by_tenant.on_day(NOV1) == {"acme": 1}


async def test_new_records_count_whichever_partition_they_come_from() -> None:
    stats = Stats()
    await stats.count(await stats.rekey(make_verdict(1), partition=0, offset=100))
    await stats.count(await stats.rekey(make_verdict(2), partition=1, offset=5))
    await stats.count(await stats.rekey(make_verdict(3), partition=0, offset=101))
    verdict = make_verdict(4)  # re-keyed before the headers existed: only "seen" guards it
    await stats.count(record_of(verdict, key=b"acme", offset=99))

    assert stats.by_tenant.on_day(NOV1) == {"acme": 4}
    assert stats.by_tenant.get("acme", NOV1).counted == {0: 101, 1: 5}


def test_a_count_stored_before_the_guard_reads_as_its_number() -> None:
    assert DayCount.load(12) == DayCount(12)
    assert DayCount.load({}) == DayCount()
    count = DayCount(3, {0: 10, 2: 4})
    assert DayCount.load(count.dump()) == count
