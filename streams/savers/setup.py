"""Puts the quota savers the settings ask for in front of the worker's PhotoDNA matcher."""

from __future__ import annotations

import logging
from datetime import timedelta

import faust

from streams.errors import ConfigurationError
from streams.kafka.followed import COMPACTED, FollowedTable, TopicFollower
from streams.photodna import Matcher, PhotoDNAMatcher
from streams.savers.cache import DuplicateCache
from streams.savers.matcher import Banks, SavingMatcher
from streams.settings import DeliveryMode, Settings

log = logging.getLogger(__name__)


def with_quota_savers(app: faust.App, settings: Settings, photodna: PhotoDNAMatcher) -> Matcher:
    """The cache and the banks need the image's bytes: in url mode PhotoDNA answers alone."""
    if settings.media.delivery_mode is not DeliveryMode.BYTES:
        if settings.banks.enabled:
            log.warning("local hash banks need delivery mode 'bytes'; url mode skips them")
        return photodna
    followers: list[TopicFollower] = []
    cache = None
    if settings.cache.enabled:
        answers = FollowedTable(app, settings, settings.cache.topic)
        followers.append(answers.follower)
        cache = DuplicateCache(
            answers, clear_max_age=timedelta(seconds=settings.cache.clear_max_age_s)
        )
    banks = None
    if settings.banks.enabled:
        index = _bank_index(settings)
        followers.append(TopicFollower(settings, settings.banks.topic, index.apply))
        banks = index
    if not followers:
        return photodna
    for follower in followers:
        app.task(follower.run)
    loaded = [f.caught_up for f in followers]
    return SavingMatcher(photodna, cache=cache, banks=banks, loaded=loaded)


def saver_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """The compacted topics the savers the settings ask for follow (created before start)."""
    wanted = settings.media.delivery_mode is DeliveryMode.BYTES
    return {
        topic: dict(COMPACTED)
        for topic, enabled in (
            (settings.cache.topic, wanted and settings.cache.enabled),
            (settings.banks.topic, wanted and settings.banks.enabled),
        )
        if enabled
    }


def _bank_index(settings: Settings) -> Banks:
    try:
        from streams.savers.bank_index import BankIndex  # the `banks` extra: threatexchange
    except ImportError as exc:
        raise ConfigurationError(
            "HASHGATE_BANKS__ENABLED needs the banks extra: pip install 'hashgate[banks]'"
        ) from exc
    return BankIndex(pdq_threshold=settings.banks.pdq_threshold)
