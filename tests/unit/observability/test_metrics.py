"""The quota savers' metrics, as a scrape of the worker's /metrics reads them."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from prometheus_client import generate_latest

from streams.errors import ReasonCode
from streams.events import ScanInfo
from streams.kafka.record import SourceRecord, dead_letter
from streams.observability.metrics import ScanMetrics
from streams.savers.cache import DuplicateCache, Lookup, digest_of
from streams.scan.lane import OutcomeCounter
from streams.scan.scanner import DeadLetterOutcome, RetryOutcome, ScanRequest, VerdictOutcome
from tests.support import NOW, clear_result, make_upload, make_verdict


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


def test_each_lane_counts_its_own_verdicts_retries_and_dlq_records() -> None:
    metrics = ScanMetrics()
    live, rescan = OutcomeCounter(metrics, "live"), OutcomeCounter(metrics, "rescan")
    request = ScanRequest(make_upload(1), ScanInfo())
    for count, is_match in ((live, True), (live, False), (live, False), (rescan, False)):
        count(VerdictOutcome(make_verdict(1, is_match=is_match), request))
    record = SourceRecord("content.uploads", 0, 7, b"k", b"{}", (), NOW)
    for _ in range(2):
        rescan(RetryOutcome(record, 1, NOW, "503"))
    error = dead_letter(
        record, ReasonCode.RETRIES_EXHAUSTED, "503", now=NOW, attempts=3, first_seen=NOW
    )
    live(DeadLetterOutcome(error, replays=0))
    assert {
        'hashgate_verdicts_total{lane="live",verdict="match"} 1.0',
        'hashgate_verdicts_total{lane="live",verdict="clear"} 2.0',
        'hashgate_verdicts_total{lane="rescan",verdict="clear"} 1.0',
        'hashgate_photodna_latency_seconds_count{lane="live"} 3.0',
        'hashgate_photodna_latency_seconds_count{lane="rescan"} 1.0',
        'hashgate_event_retries_total{lane="rescan"} 2.0',
        'hashgate_dlq_records_total{lane="live",reason="retries_exhausted"} 1.0',
    } <= scrape(metrics)
    rescan_matches = 'hashgate_verdicts_total{lane="rescan",verdict="match"}'
    assert not any(line.startswith(rescan_matches) for line in scrape(metrics))


class Follower:
    topic = "hashgate.cache.answers"
    records_read = 7


def test_records_read_of_each_followed_topic_are_served() -> None:
    metrics = ScanMetrics()
    metrics.watch_followers([Follower()])
    assert 'hashgate_followed_records_read{topic="hashgate.cache.answers"} 7.0' in scrape(metrics)
