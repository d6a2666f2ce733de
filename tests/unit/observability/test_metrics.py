"""The quota savers' metrics, as a scrape of the worker's /metrics reads them."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from prometheus_client import generate_latest

from streams.events import ScanInfo
from streams.observability.metrics import ScanMetrics
from streams.savers.cache import DuplicateCache, Lookup, digest_of
from streams.scan.lane import OutcomeCounter
from streams.scan.scanner import ScanRequest, VerdictOutcome
from tests.support import clear_result, make_upload, make_verdict


def scrape(metrics: ScanMetrics) -> set[str]:
    return set(generate_latest(metrics.registry).decode().splitlines())


def test_cache_lookups_by_outcome_its_entries_and_lost_writes_are_served() -> None:
    store: dict[str, bytes] = {}
    cache = DuplicateCache(store, clear_max_age=timedelta(days=1), max_age=timedelta(days=30))
    metrics = ScanMetrics()
    metrics.watch_cache(cache)
    cache.lookup(digest_of(b"new"))
    cache.remember(digest_of(b"seen"), clear_result())
    cache.lookup(digest_of(b"seen"))
    cache.lookup(digest_of(b"seen"))
    cache.failed_writes = 2
    served = scrape(metrics)
    assert {
        'hashgate_cache_lookups_total{outcome="miss"} 1.0',
        'hashgate_cache_lookups_total{outcome="clear"} 2.0',
        "hashgate_cache_entries 1.0",
        "hashgate_cache_failed_writes_total 2.0",
    } <= served
    assert cache.lookups == Counter({Lookup.MISS: 1, Lookup.CLEAR: 2})


class Banks:
    def entries_per_bank(self) -> dict[str, int]:
        return {"ncmec": 3, "own-decisions": 1}


def test_bank_entries_are_served_per_bank() -> None:
    metrics = ScanMetrics()
    metrics.watch_banks(Banks())
    assert {
        'hashgate_bank_entries{bank="ncmec"} 3.0',
        'hashgate_bank_entries{bank="own-decisions"} 1.0',
    } <= scrape(metrics)


def test_each_verdict_counts_what_answered_it() -> None:
    metrics = ScanMetrics()
    count = OutcomeCounter(metrics, "live")
    request = ScanRequest(make_upload(1), ScanInfo())
    for answered_by in ("photodna", "cache", "cache", "bank:ncmec"):
        # only the field counted matters here, not the rest a cache or bank verdict carries
        verdict = make_verdict(1).model_copy(update={"answered_by": answered_by})
        count(VerdictOutcome(verdict, request))
    assert {
        'hashgate_answers_total{answered_by="photodna",lane="live"} 1.0',
        'hashgate_answers_total{answered_by="cache",lane="live"} 2.0',
        'hashgate_answers_total{answered_by="bank:ncmec",lane="live"} 1.0',
    } <= scrape(metrics)


class Follower:
    topic = "hashgate.cache.answers"
    records_read = 7


def test_records_read_of_each_followed_topic_are_served() -> None:
    metrics = ScanMetrics()
    metrics.watch_followers([Follower()])
    assert 'hashgate_followed_records_read{topic="hashgate.cache.answers"} 7.0' in scrape(metrics)
