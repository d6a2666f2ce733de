"""Creates hashgate's topics, with their declared settings, before any client can touch them.

faust creates the topics it writes to, but not the ones its agents read; and on a broker with
``auto.create.topics.enable=true`` (the default) the first metadata request for a missing topic
creates it with the broker's defaults: a producer tracking the rescan status topic made it
``delete`` instead of compacted, with the broker's partition count and retention. So each
process creates every topic it reads or writes before its Kafka clients start, and a topic the
cluster refuses to create stops it with a message naming the topic and the setting to fix.
Which topics a process creates, and with which configs, comes from the topic registry
(``streams.events.topics.topics_of``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import click
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    GroupCoordinatorNotAvailableError,
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    InvalidTopicError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    for_code,
)

from streams.errors import ConfigurationError
from streams.events.topics import REGISTRY
from streams.kafka.config import aiokafka_options
from streams.settings import Settings

log = logging.getLogger(__name__)

#: How long a start waits for new topics' leaders and for a new cluster's group coordinator.
READY_WAIT_S = 30.0

#: What to fix when the cluster refuses a topic, by the broker's error.
_FIX = {
    InvalidReplicationFactorError: "HASHGATE_TOPICS__REPLICATION_FACTOR (at most the brokers)",
    InvalidPartitionsError: "HASHGATE_TOPICS__PARTITIONS",
    InvalidTopicError: "the topic's name (HASHGATE_TOPICS__*)",
    InvalidConfigurationError: "the topic's name or the broker's topic policy",
    TopicAuthorizationFailedError: "the Kafka user's ACLs (HASHGATE_KAFKA__SASL_USERNAME)",
}


def refusals(response: object, wanted: dict[str, dict[str, str]], settings: Settings) -> list[str]:
    """One line per topic the cluster refused, naming the topic and what to change."""
    problems = []
    for topic, code, *message in getattr(response, "topic_errors", []):
        if code == 0:
            continue
        error = for_code(code)
        if error is TopicAlreadyExistsError:  # another process created it meanwhile
            continue
        detail = message[0] if message and message[0] else error.__name__
        fix = _FIX.get(error, "the cluster's settings")
        config = ", ".join(f"{k}={v}" for k, v in wanted.get(topic, {}).items())
        asked = (
            f"partitions={settings.topics.partitions}, "
            f"replication_factor={settings.topics.replication_factor}"
            + (f", {config}" if config else "")
        )
        problems.append(f"{topic} ({asked}): {error.__name__}: {detail}; check {fix}")
    return problems


async def ensure_topics(
    settings: Settings, wanted: dict[str, dict[str, str]], *, group: str | None = None
) -> list[str]:
    """Create the missing ones; return their names. Existing topics are left as they are.

    Topics it creates are waited for until the cluster serves each partition from a leader:
    Kafka answers a creation once its controller has it, and a client asking a broker a moment
    too soon is told the topic does not exist. With ``group``, also wait until the cluster has
    a coordinator for that consumer group: on a new cluster the first group makes the broker
    create its offsets topic. Until either is done the clients log ERROR lines for a condition
    that is not one.

    Raises ConfigurationError listing every topic the cluster refused to create.
    """
    admin = AIOKafkaAdminClient(**aiokafka_options(settings.kafka))
    await admin.start()
    try:
        created = await _create_missing(admin, settings, wanted)
        if created:
            await _wait_until_ready(partial(_leaderless, admin, created), interval_s=0.1)
        if group is not None:
            await _wait_until_ready(partial(_coordinator_missing, admin, group), interval_s=0.2)
        return created
    finally:
        await admin.close()


def unserved(described: list[dict[str, Any]], names: list[str]) -> list[str]:
    """Those of ``names`` the metadata answer ``described`` does not show served: missing, with
    an error, without partitions or with a partition that has no leader yet."""
    served = {
        topic["topic"]
        for topic in described
        if topic["error_code"] == 0
        and topic["partitions"]
        and all(p["error_code"] == 0 and p["leader"] >= 0 for p in topic["partitions"])
    }
    return [name for name in names if name not in served]


async def _wait_until_ready(not_ready: Callable[[], Awaitable[str]], interval_s: float) -> None:
    """Ask ``not_ready`` every ``interval_s`` until it answers "" or ``READY_WAIT_S`` passed;
    then warn with its last answer and go on (the clients keep retrying by themselves)."""
    deadline = asyncio.get_running_loop().time() + READY_WAIT_S
    while waiting := await not_ready():
        if asyncio.get_running_loop().time() > deadline:
            log.warning("%s after %.0f s; the clients will keep asking", waiting, READY_WAIT_S)
            return
        await asyncio.sleep(interval_s)


async def _leaderless(admin: AIOKafkaAdminClient, names: list[str]) -> str:
    """Which of the new topics ``names`` are not served yet ("" once all are)."""
    waiting = unserved(await admin.describe_topics(names), names)
    return f"new topics without leaders: {', '.join(waiting)}" if waiting else ""


async def _coordinator_missing(admin: AIOKafkaAdminClient, group: str) -> str:
    """Whether the consumer group ``group`` still has no coordinator ("" once it has)."""
    try:
        await admin.find_coordinator(group)
    except GroupCoordinatorNotAvailableError:
        return f"no group coordinator for {group}"
    return ""


async def _create_missing(
    admin: AIOKafkaAdminClient, settings: Settings, wanted: dict[str, dict[str, str]]
) -> list[str]:
    existing = set(await admin.list_topics())
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return []
    response = await admin.create_topics(
        [
            NewTopic(
                name,
                num_partitions=settings.topics.partitions,
                replication_factor=settings.topics.replication_factor,
                topic_configs=wanted[name],
            )
            for name in missing
        ]
    )
    if problems := refusals(response, wanted, settings):
        raise ConfigurationError("Kafka refused to create topics:\n  " + "\n  ".join(problems))
    log.info("created topics: %s", ", ".join(missing))
    return missing


def creation_script(settings: Settings) -> str:
    """deploy/create-topics.sh: every registry topic under ``settings``' names, with its configs.

    docker compose's ``kafka-init`` runs it before any worker starts; the partition count and
    replication factor come from its environment. Regenerate with
    ``hashgate schemas topics-script --write deploy/create-topics.sh``; a test fails on drift.
    """
    lines = [
        "#!/bin/sh",
        "# Creates hashgate's topics before any worker starts (the compose `kafka-init` service).",
        "# GENERATED from the topic registry (streams/events/topics.py) by",
        "# `hashgate schemas topics-script --write deploy/create-topics.sh`: do not edit.",
        "#",
        "# Broker auto-creation would give each topic the broker's defaults (partition count, no",
        "# compaction, its retention), so every topic is made explicitly, idempotently",
        "# (--if-not-exists), with the settings it is declared with.",
        "#",
        "# Environment: BOOTSTRAP, PARTITIONS, REPLICATION_FACTOR, KAFKA_BIN (folder of",
        "# kafka-topics.sh, default /opt/kafka/bin).",
        "set -eu",
        "",
        ': "${BOOTSTRAP:?}" "${PARTITIONS:?}" "${REPLICATION_FACTOR:?}"',
        'KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"',
        "",
        "create() {",
        '    topic="$1"',
        "    shift",
        '    "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create \\',
        '        --if-not-exists --topic "$topic" --partitions "$PARTITIONS" \\',
        '        --replication-factor "$REPLICATION_FACTOR" "$@"',
        "}",
        "",
    ]
    for topic in REGISTRY:
        configs = " ".join(f"--config {k}={v}" for k, v in topic.configs(settings).items())
        lines.append(f"create {topic.address(settings)}" + (f" {configs}" if configs else ""))
    lines.append('echo "hashgate topics ready"')
    return "\n".join(lines) + "\n"


@click.command("topics-script")
@click.option("--write", "path", type=click.Path(path_type=Path), help="Write it to this file.")
def topics_script_command(path: Path | None) -> None:
    """The shell script that creates every topic (deploy/create-topics.sh), from the registry."""
    # The defaults, whatever the environment says: the checked-in script must not depend on it.
    text = creation_script(Settings.model_construct())
    if path is None:
        click.echo(text, nl=False)
        return
    path.write_text(text)
    click.echo(f"wrote {path}")
