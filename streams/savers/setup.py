"""Puts the quota savers the settings ask for in front of the worker's PhotoDNA matcher."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

import faust

from streams.errors import ConfigurationError
from streams.events.topics import declared
from streams.kafka.app import state_dir
from streams.kafka.followed import FollowedTable, TopicFollower, each_record
from streams.kafka.followed_store import FollowedStore, MemoryStore, RocksStore
from streams.kafka.rocksdb_memory import database_options
from streams.observability.metrics import ScanMetrics
from streams.photodna import Matcher, PhotoDNAMatcher
from streams.savers.cache import DuplicateCache
from streams.savers.matcher import Banks, SavingMatcher
from streams.settings import DeliveryMode, Settings, StateStore

log = logging.getLogger(__name__)


def with_quota_savers(
    app: faust.App, settings: Settings, photodna: PhotoDNAMatcher, metrics: ScanMetrics
) -> Matcher:
    """The cache and the banks need the image's bytes: in url mode PhotoDNA answers alone."""
    if settings.media.delivery_mode is not DeliveryMode.BYTES:
        if settings.banks.enabled:
            log.warning("local hash banks need delivery mode 'bytes'; url mode skips them")
        return photodna
    followers: list[TopicFollower] = []
    cache = None
    if settings.cache.enabled:
        answers = FollowedTable(
            app, settings, settings.cache.topic, partial(_answer_store, settings)
        )
        app.task(answers.run)
        followers.append(answers.follower)
        cache = DuplicateCache(
            answers,
            clear_max_age=timedelta(seconds=settings.cache.clear_max_age_s),
            max_age=timedelta(seconds=settings.cache.keep_s),
        )
        metrics.watch_cache(cache)
    banks = None
    if settings.banks.enabled:
        banks = _bank_index(settings)
        bank_follower = TopicFollower(settings, settings.banks.topic, each_record(banks.apply))
        app.task(bank_follower.run)
        followers.append(bank_follower)
        metrics.watch_banks(banks)
    if not followers:
        return photodna
    metrics.watch_followers(followers)
    loaded = [f.caught_up for f in followers]
    return SavingMatcher(photodna, cache=cache, banks=banks, loaded=loaded)


def _answer_store(settings: Settings) -> FollowedStore:
    """On disk beside faust's tables, unless the tables are kept in memory too (tests)."""
    if settings.state.store is StateStore.MEMORY:
        return MemoryStore()
    folder = state_dir(settings, "worker") / "followed" / settings.cache.topic
    return RocksStore(folder, ttl_s=settings.cache.keep_s, options=database_options(settings.state))


def saver_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """The topics the savers the settings ask for follow (created before start): compacted,
    and the cache's also deleted past its keep time, which bounds it."""
    bytes_mode = settings.media.delivery_mode is DeliveryMode.BYTES
    topics: dict[str, dict[str, str]] = {}
    if bytes_mode and settings.cache.enabled:
        topics.update(declared(settings, "cache.topic"))
    if bytes_mode and settings.banks.enabled:
        topics.update(declared(settings, "banks.topic"))
    return topics


def _bank_index(settings: Settings) -> Banks:
    try:
        from streams.savers.bank_index import BankIndex  # the `banks` extra: threatexchange
    except ImportError as exc:
        raise ConfigurationError(
            "HASHGATE_BANKS__ENABLED needs the banks extra: pip install 'hashgate[banks]'"
        ) from exc
    return BankIndex(pdq_threshold=settings.banks.pdq_threshold)
