"""The stats agent on a real broker: UTC days, per tenant and source, each verdict once."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import httpx

from hashgate_tools.harness.downstream import DownstreamSetup, match_verdict
from streams.events import MatchCount

pytest_plugins = ["tests.integration.downstream_fixtures"]

URL = "https://cdn.example.com/image.png"


async def test_matches_are_counted_per_utc_day_once_each(downstream: DownstreamSetup) -> None:
    # Yesterday and today, so the table's retention (counted from now) keeps both days.
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    before = datetime.combine(yesterday, time(23, 59), tzinfo=UTC)
    after = datetime.combine(today, time(0, 1), tzinfo=UTC)
    verdicts = [
        match_verdict(1, URL, scanned_at=before, flags=(("Test", ("A1",)),)),
        match_verdict(2, URL, scanned_at=before, flags=(("NCMEC", ("A1",)), ("Test", ("B1",)))),
        match_verdict(3, URL, scanned_at=after),
        match_verdict(4, URL, scanned_at=after, tenant="globex"),
    ]
    agent = downstream.start_agent("stats")
    await agent.wait_ready()

    await downstream.publish(verdicts)
    await downstream.publish(verdicts[:3])  # replayed: must not count again
    by_tenant = f"{downstream.topics.group('stats')}-matches-by-tenant"  # the agent's own
    await downstream.wait_consumed("stats", downstream.topics.name("verdicts_match"), 7)
    # (its offsets also hold the commit markers of the agent's Kafka transactions)
    assert await downstream.wait_caught_up("stats", by_tenant) == 7

    async with httpx.AsyncClient(base_url=agent.url, timeout=10) as http:
        first = (await http.get("/stats/matches", params={"day": yesterday.isoformat()})).json()
        second = (await http.get("/stats/matches", params={"day": today.isoformat()})).json()
        bad = await http.get("/stats/matches", params={"day": "yesterday"})
    assert first["tenants"] == {"acme": {"matches": 2, "by_source": {"NCMEC": 1, "Test": 2}}}
    assert second["tenants"] == {
        "acme": {"matches": 1, "by_source": {"Test": 1}},
        "globex": {"matches": 1, "by_source": {"Test": 1}},
    }
    assert first["partitions"]["complete"] and bad.status_code == 400

    figures = {c.key: c for c in await downstream.read("stats", MatchCount)}
    day1, day2 = yesterday.isoformat(), today.isoformat()
    assert {k.decode(): c.matches for k, c in figures.items()} == {
        f"acme/{day1}": 2,
        f"acme/{day1}/Test": 2,
        f"acme/{day1}/NCMEC": 1,
        f"acme/{day2}": 1,
        f"acme/{day2}/Test": 1,
        f"globex/{day2}": 1,
        f"globex/{day2}/Test": 1,
    }
