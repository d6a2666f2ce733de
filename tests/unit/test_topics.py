"""Topic creation: what each process declares, and what a refusal says to the operator."""

from __future__ import annotations

from types import SimpleNamespace

from streams.rescan.records import PROGRESS_RETENTION_MS
from streams.settings import Settings
from streams.topics import refusals, worker_topics


def test_the_worker_declares_the_rescan_topics_it_writes_with_their_settings() -> None:
    topics = worker_topics(Settings(topics={"rescans": "ops.rescans"}))
    assert topics["ops.rescans.status"] == {"cleanup.policy": "compact"}
    assert topics["ops.rescans.progress"] == {"retention.ms": str(PROGRESS_RETENTION_MS)}
    assert topics["content.verdicts.latest"] == {"cleanup.policy": "compact"}
    assert topics["content.uploads"] == {}


def test_a_refusal_names_the_topic_what_was_asked_and_the_setting_to_fix() -> None:
    settings = Settings(topics={"replication_factor": 3})
    response = SimpleNamespace(
        topic_errors=[
            ("content.uploads", 38, "Replication factor: 3 larger than available brokers: 1."),
            ("content.rescans.status", 36, "already exists"),  # a race with another worker
            ("content.verdicts.match", 0, None),
        ]
    )
    wanted = {"content.uploads": {}, "content.rescans.status": {"cleanup.policy": "compact"}}
    assert refusals(response, wanted, settings) == [
        "content.uploads (partitions=8, replication_factor=3): InvalidReplicationFactorError: "
        "Replication factor: 3 larger than available brokers: 1.; check "
        "HASHGATE_TOPICS__REPLICATION_FACTOR (at most the brokers)"
    ]
