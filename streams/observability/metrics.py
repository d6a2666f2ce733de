"""Prometheus metrics of the scan worker, in one registry per app (tests run several apps)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

#: Breaker states as gauge values: alert on hashgate_breaker_state > 0.
BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}

LagReader = Callable[[], dict[tuple[str, int], int]]


class _LagCollector(Collector):
    """Consumer lag per partition, read at scrape time from the consumer's own offsets."""

    def __init__(self, read: LagReader) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "hashgate_consumer_lag",
            "Records in the partition not yet committed by this worker.",
            labels=["topic", "partition"],
        )
        for (topic, partition), lag in sorted(self._read().items()):
            family.add_metric([topic, str(partition)], lag)
        yield family


class RateLimiterView(Protocol):
    throttled: int

    @property
    def current_rate(self) -> float: ...


class _RateLimitCollector(Collector):
    """The shared rate limiter's own counts, read at scrape time."""

    def __init__(self, limiter: RateLimiterView) -> None:
        self._limiter = limiter

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield CounterMetricFamily(
            "hashgate_photodna_throttled",
            "HTTP 429 answers from PhotoDNA.",
            value=self._limiter.throttled,
        )
        yield GaugeMetricFamily(
            "hashgate_rate_limit_rps",
            "Current client-side call rate (AIMD).",
            value=self._limiter.current_rate,
        )


class PhotoDNAView(Protocol):
    @property
    def answers(self) -> Mapping[tuple[str, str], int]: ...

    @property
    def probe_calls(self) -> int: ...

    @property
    def retries(self) -> Mapping[str, int]: ...


class _PhotoDNACollector(Collector):
    """The PhotoDNA client's answers by Status code, its retries and its health probe's calls."""

    def __init__(self, client: PhotoDNAView) -> None:
        self._client = client

    def collect(self) -> Iterator[CounterMetricFamily]:
        answers = CounterMetricFamily(
            "hashgate_photodna_answers",
            "PhotoDNA answers by caller (event or probe) and Status code (http_<code> or "
            "unreadable when there is none).",
            labels=["caller", "status"],
        )
        for (caller, status), count in sorted(self._client.answers.items()):
            answers.add_metric([caller, status], count)
        yield answers
        yield CounterMetricFamily(
            "hashgate_photodna_probe_calls",
            "Calls of the circuit breaker's health probe (the canary image).",
            value=self._client.probe_calls,
        )
        retries = CounterMetricFamily(
            "hashgate_photodna_retries",
            "PhotoDNA calls retried after a transient error or a 429, counted as they are retried.",
            labels=["lane"],
        )
        for lane, count in sorted(self._client.retries.items()):
            retries.add_metric([lane], count)
        yield retries


class CacheView(Protocol):
    @property
    def lookups(self) -> Mapping[str, int]: ...

    @property
    def failed_writes(self) -> int: ...

    def entries(self) -> int: ...


class _CacheCollector(Collector):
    """The duplicate cache's own counts, read at scrape time."""

    def __init__(self, cache: CacheView) -> None:
        self._cache = cache

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        lookups = CounterMetricFamily(
            "hashgate_cache_lookups",
            "Duplicate cache lookups by how they ended: match or clear (answered from the "
            "cache), miss, stale_clear, expired, failed (the last four ask PhotoDNA).",
            labels=["outcome"],
        )
        for outcome, count in sorted(self._cache.lookups.items()):
            lookups.add_metric([str(outcome)], count)
        yield lookups
        yield CounterMetricFamily(
            "hashgate_cache_failed_writes",
            "PhotoDNA answers the cache could not keep (the next copy asks again).",
            value=self._cache.failed_writes,
        )
        yield GaugeMetricFamily(
            "hashgate_cache_entries",
            "Entries in this worker's copy of the cache (estimated on disk).",
            value=self._cache.entries(),
        )


class BanksView(Protocol):
    def entries_per_bank(self) -> dict[str, int]: ...


class _BanksCollector(Collector):
    def __init__(self, banks: BanksView) -> None:
        self._banks = banks

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "hashgate_bank_entries",
            "Bank entries this worker matches now (enabled, in an enabled bank), per bank.",
            labels=["bank"],
        )
        for bank, count in sorted(self._banks.entries_per_bank().items()):
            family.add_metric([bank], count)
        yield family


class FollowerView(Protocol):
    @property
    def topic(self) -> str: ...

    @property
    def records_read(self) -> int: ...


class _FollowersCollector(Collector):
    def __init__(self, followers: Sequence[FollowerView]) -> None:
        self._followers = followers

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "hashgate_followed_records_read",
            "Records of a followed topic (cache, banks) read since the process started: a "
            "worker restarted on its disk reads only those written since it stopped.",
            labels=["topic"],
        )
        for follower in self._followers:
            family.add_metric([follower.topic], follower.records_read)
        yield family


class ScanMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_in = Counter(
            "hashgate_events_in", "Records taken from the source topics.", ["lane"], registry=r
        )
        self.verdicts = Counter(
            "hashgate_verdicts", "Verdicts written.", ["verdict", "lane"], registry=r
        )
        self.dlq = Counter(
            "hashgate_dlq_records", "Records written to the DLQ.", ["reason", "lane"], registry=r
        )
        self.event_retries = Counter(
            "hashgate_event_retries",
            "Records sent to the delayed-retry topic.",
            ["lane"],
            registry=r,
        )
        self.answered_by = Counter(
            "hashgate_answers",
            "Verdicts by what answered them: photodna, cache or bank:<name>.",
            ["answered_by", "lane"],
            registry=r,
        )
        self.in_flight = Gauge(
            "hashgate_in_flight", "Records being scanned now.", ["lane"], registry=r
        )
        self.unacked = Gauge(
            "hashgate_unacked", "Records taken but not yet committed-safe.", ["lane"], registry=r
        )
        self.rescan_call_slots = Gauge(
            "hashgate_rescan_call_slots",
            "PhotoDNA calls the rescan lane may run now: max_in_flight, less while live "
            "records queue.",
            registry=r,
        )
        self.api_latency = Histogram(
            "hashgate_photodna_latency_seconds",
            "Time in PhotoDNA calls per verdict, all attempts.",
            ["lane"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.breaker_state = Gauge(
            "hashgate_breaker_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            registry=r,
        )
        self.state_replayed = Gauge(
            "hashgate_state_replayed_records",
            "Changelog records read into the latest-verdict table since the process started "
            "(a restart reads only those written after the last checkpoint).",
            registry=r,
        )

    def watch_lag(self, read: LagReader) -> None:
        self.registry.register(_LagCollector(read))

    def watch_rate_limiter(self, limiter: RateLimiterView) -> None:
        self.registry.register(_RateLimitCollector(limiter))

    def watch_photodna(self, client: PhotoDNAView) -> None:
        self.registry.register(_PhotoDNACollector(client))

    def watch_cache(self, cache: CacheView) -> None:
        self.registry.register(_CacheCollector(cache))

    def watch_banks(self, banks: BanksView) -> None:
        self.registry.register(_BanksCollector(banks))

    def watch_followers(self, followers: Sequence[FollowerView]) -> None:
        self.registry.register(_FollowersCollector(followers))
