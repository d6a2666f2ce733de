"""The topic registry is the one list of topics: settings, creation and harness agree with it."""

from __future__ import annotations

import pytest

from hashgate_tools.harness.worker import ScanTopics
from streams.events.topics import (
    BY_SETTING,
    OWN_SETTING_TOPICS,
    REGISTRY,
    SCAN_WORKER,
    declared,
    topic_name,
    topics_of,
)
from streams.settings import Settings, TopicSettings

pytestmark = pytest.mark.unit


def test_every_topic_setting_is_a_registry_entry_and_back() -> None:
    named = {name for name, field in TopicSettings.model_fields.items() if field.annotation is str}
    assert named == {t.setting for t in REGISTRY if t.named_after is None and not t.own_setting}


def test_a_features_own_topic_is_named_by_its_setting_and_keeps_to_its_retention() -> None:
    settings = Settings(cache={"topic": "acme.answers", "keep_s": 90000}, banks={"topic": "b"})
    assert declared(settings, "cache.topic", "banks.topic") == {
        "acme.answers": {"cleanup.policy": "compact,delete", "retention.ms": "90000000"},
        "b": {"cleanup.policy": "compact"},
    }
    assert {t.env_var for t in OWN_SETTING_TOPICS} == {
        "HASHGATE_CACHE__TOPIC",
        "HASHGATE_BANKS__TOPIC",
    }
    with pytest.raises(TypeError):
        BY_SETTING["cache.topic"].address(settings.topics)


def test_derived_topics_are_named_after_a_registered_topic() -> None:
    for topic in REGISTRY:
        if topic.named_after is not None:
            assert topic.named_after[0] in BY_SETTING
        if topic.created_with is not None:
            assert BY_SETTING[topic.created_with].named_after is None


def test_a_renamed_topic_renames_the_topics_named_after_it() -> None:
    topics = TopicSettings(rescans="acme.rescans", scan_errors="acme.dlq")
    assert topic_name(topics, "rescans_status") == "acme.rescans.status"
    assert topic_name(topics, "scan_errors_replayed") == "acme.dlq.replayed"


def test_the_worker_creates_what_it_reads_and_writes_and_the_rescan_family() -> None:
    created = topics_of(TopicSettings(), SCAN_WORKER)
    assert set(created) == {
        "content.uploads",
        "content.rescans",
        "content.rescans.status",
        "content.rescans.progress",
        "content.scan.retries",
        "content.verdicts.match",
        "content.verdicts.clear",
        "content.verdicts.latest",
        "content.scan.errors",
    }


def test_the_harness_gives_a_test_its_own_name_for_every_topic_the_worker_uses() -> None:
    harness = ScanTopics()
    settings = TopicSettings(
        **{
            k.removeprefix("HASHGATE_TOPICS__").lower(): v
            for k, v in harness.env().items()
            if "TOPICS__" in k
        }
    )
    for name in topics_of(settings, SCAN_WORKER):
        assert name.startswith(harness.prefix), f"{name} would be shared between tests"
    env = harness.env()
    for topic in OWN_SETTING_TOPICS:
        assert env[topic.env_var].startswith(harness.prefix), f"{topic.setting} would be shared"
