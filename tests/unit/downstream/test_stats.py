"""Daily match counts: the UTC day of scanned_at, per tenant and per tenant and source."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from datetime import UTC, date, datetime

import pytest

from streams.downstream.stats import MatchCounter, daily_report, day_of
from streams.events import MatchCount
from tests.support import NOW, RecordingWriter, emitter, make_verdict

pytestmark = pytest.mark.unit

TOPIC = "stats.matches"


class DictCounts:
    """The DailyCounts protocol over a Counter, standing in for the windowed faust table."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[Hashable, date]] = Counter()

    def get(self, key: Hashable, day: date) -> int:
        return self.counts[(key, day)]

    def add(self, key: Hashable, day: date) -> None:
        self.counts[(key, day)] += 1

    def on_day(self, day: date) -> dict[Hashable, int]:
        return {k: n for (k, d), n in self.counts.items() if d == day}


def test_the_day_is_the_utc_date_of_the_moment() -> None:
    late = datetime.fromisoformat("2026-11-01T23:59:00+00:00")
    assert day_of(late) == date(2026, 11, 1)
    assert day_of(datetime.fromisoformat("2026-11-02T00:59:00+01:00")) == date(2026, 11, 1)


async def test_counts_split_at_utc_midnight_and_by_source() -> None:
    by_tenant, by_source = DictCounts(), DictCounts()
    publisher = RecordingWriter()
    counter = MatchCounter(by_tenant, by_source, emitter(publisher), TOPIC, clock=lambda: NOW)
    before = datetime(2026, 11, 1, 23, 59, tzinfo=UTC)
    after = datetime(2026, 11, 2, 0, 1, tzinfo=UTC)

    await counter.handle(make_verdict(1, scanned_at=before, flags=(("Test", ("A1",)),)))
    await counter.handle(make_verdict(2, scanned_at=before, flags=(("NCMEC", ("A1",)),)))
    await counter.handle(make_verdict(3, scanned_at=after))
    await counter.handle(make_verdict(4, scanned_at=after, tenant="globex"))

    nov1, nov2 = date(2026, 11, 1), date(2026, 11, 2)
    assert by_tenant.on_day(nov1) == {"acme": 2}
    assert by_tenant.on_day(nov2) == {"acme": 1, "globex": 1}
    assert by_source.on_day(nov1) == {("acme", "Test"): 1, ("acme", "NCMEC"): 1}
    report = daily_report(nov1, by_tenant, by_source, {"complete": True})
    assert report["tenants"] == {"acme": {"matches": 2, "by_source": {"NCMEC": 1, "Test": 1}}}


async def test_every_change_is_emitted_as_the_new_figure_under_a_stable_key() -> None:
    publisher = RecordingWriter()
    counter = MatchCounter(DictCounts(), DictCounts(), emitter(publisher), TOPIC, clock=lambda: NOW)

    await counter.handle(make_verdict(1))
    await counter.handle(make_verdict(2))

    latest = {key: MatchCount.decode(value) for _t, key, value in publisher.sent}
    assert set(latest) == {b"acme/2026-11-01", b"acme/2026-11-01/Test"}
    assert latest[b"acme/2026-11-01"].matches == 2
    assert latest[b"acme/2026-11-01/Test"].source == "Test"
