"""The topics the quota savers need, as the worker creates them before it starts."""

from __future__ import annotations

from streams.savers.setup import saver_topics
from streams.settings import load_settings

BYTES = {"delivery_mode": "bytes"}


def test_the_cache_topic_is_compacted_and_bounded_by_its_keep_time() -> None:
    settings = load_settings(media=BYTES, cache={"keep_s": 7 * 24 * 3600})
    assert saver_topics(settings) == {
        "hashgate.cache.answers": {"cleanup.policy": "compact,delete", "retention.ms": "604800000"}
    }


def test_the_banks_topic_is_compacted_and_kept() -> None:
    settings = load_settings(media=BYTES, cache={"enabled": False}, banks={"enabled": True})
    assert saver_topics(settings) == {"hashgate.banks": {"cleanup.policy": "compact"}}


def test_url_mode_needs_no_saver_topic() -> None:
    assert saver_topics(load_settings(banks={"enabled": True})) == {}
