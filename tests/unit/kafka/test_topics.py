"""Topic creation: what each process declares, and what a refusal says to the operator."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from streams.events.topics import PROGRESS_RETENTION_MS, SCAN_WORKER, topics_of
from streams.kafka import topics as topics_module
from streams.kafka.topics import refusals, unserved
from streams.settings import Settings


def test_the_worker_declares_the_rescan_topics_it_writes_with_their_settings() -> None:
    topics = topics_of(Settings(topics={"rescans": "ops.rescans"}).topics, SCAN_WORKER)
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


def served(topic: str, *leaders: int, error: int = 0) -> dict[str, Any]:
    """A topic as a metadata answer describes it, one partition per leader."""
    partitions = [{"error_code": 0, "partition": i, "leader": n} for i, n in enumerate(leaders)]
    return {"error_code": error, "topic": topic, "partitions": partitions}


def test_a_new_topic_is_waited_for_until_every_partition_has_a_leader() -> None:
    names = ["ok", "leaderless", "unknown", "empty", "absent"]
    described = [
        served("ok", 1, 1, 2),
        served("leaderless", 1, -1, 2),  # created, one partition's leader not elected yet
        served("unknown", error=3),  # UNKNOWN_TOPIC_OR_PARTITION: this broker has not heard yet
        served("empty"),
    ]
    assert unserved(described, names) == ["leaderless", "unknown", "empty", "absent"]


def test_a_partition_answering_with_an_error_is_not_served() -> None:
    topic = served("t", 1, 1)
    topic["partitions"][1]["error_code"] = 5  # LEADER_NOT_AVAILABLE
    assert unserved([topic], ["t"]) == ["t"]


async def test_a_start_asks_again_until_the_cluster_is_ready() -> None:
    answers = iter(["new topics without leaders: content.uploads", ""])
    asked = 0

    async def not_ready() -> str:
        nonlocal asked
        asked += 1
        return next(answers)

    await topics_module._wait_until_ready(not_ready, interval_s=0)
    assert asked == 2


async def test_a_cluster_never_ready_costs_the_start_a_warning_not_the_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(topics_module, "READY_WAIT_S", 0.05)

    async def not_ready() -> str:
        return "no group coordinator for hashgate"

    with caplog.at_level(logging.WARNING, logger=topics_module.__name__):
        await topics_module._wait_until_ready(not_ready, interval_s=0.01)
    assert [r.getMessage() for r in caplog.records] == [
        "no group coordinator for hashgate after 0 s; the clients will keep asking"
    ]
