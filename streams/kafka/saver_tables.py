"""The quota savers' global tables: every worker holds all of each, fed by its changelog topic.

The duplicate cache is written by whichever worker got PhotoDNA's answer and read by all; the
banks table is written by ``hashgate banks`` straight to its topic and only read by workers.
The cache uses the store the app is configured with; both are keyed by the producer's
partitioner, so a write needs no source event (the scan runs outside faust's stream iteration).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust

from streams.settings import Settings


def _compacted(app: faust.App, name: str, settings: Settings) -> faust.TopicT:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topics.partitions,
        replicas=settings.topics.replication_factor,
        compacting=True,
        internal=True,
    )


def answer_cache_table(app: faust.App, settings: Settings) -> Any:
    """Image SHA-256 (str) to the encoded cached answer (bytes)."""
    return app.GlobalTable(
        "answer-cache",
        key_type=str,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topics.partitions,
        changelog_topic=_compacted(app, settings.cache.topic, settings),
        use_partitioner=True,
        help="Duplicate cache: image SHA-256 to PhotoDNA's last answer.",
    )


def banks_table(
    app: faust.App,
    settings: Settings,
    on_record: Callable[[bytes, bytes | None], None],
) -> Any:
    """The banks topic, with ``on_record`` told of each record as the worker reads it.

    In memory whatever the app's store: the topic is read whole at every start, so the index
    sees every record (a RocksDB copy would be read from where it left off and skip them).
    """

    async def follow(event: Any) -> None:
        on_record(bytes(event.key or b""), None if event.value is None else bytes(event.value))

    followed: Callable[[Any], Awaitable[None]] = follow
    return app.GlobalTable(
        "banks",
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topics.partitions,
        changelog_topic=_compacted(app, settings.banks.topic, settings),
        use_partitioner=True,
        on_changelog_event=followed,
        store="memory://",
        help="Local hash banks: settings and entries, as the banks topic holds them.",
    )
