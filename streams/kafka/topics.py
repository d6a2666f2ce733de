"""Creates hashgate's topics if they are missing, before any consumer subscribes.

faust creates the topics it writes to, but not the ones its agents read; a worker started on a
fresh cluster would otherwise idle on "missing topic" until someone created them by hand.
"""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.kafka.config import aiokafka_options
from streams.settings import Settings

log = logging.getLogger(__name__)

#: Topic settings whose topics keep only the newest record per key.
COMPACTED = frozenset({"verdicts_latest", "stats"})


def worker_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """Every topic the scan worker reads or writes, with its topic configs."""
    topics = settings.topics
    names = [
        "uploads",
        "rescans",
        "retries",
        "verdicts_match",
        "verdicts_clear",
        "verdicts_latest",
        "scan_errors",
    ]
    return {
        getattr(topics, name): {"cleanup.policy": "compact"} if name in COMPACTED else {}
        for name in names
    }


async def ensure_topics(settings: Settings, wanted: dict[str, dict[str, str]]) -> list[str]:
    """Create the missing ones; return their names. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings.kafka))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            await admin.create_topics(
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
            log.info("created topics: %s", ", ".join(missing))
        return missing
    finally:
        await admin.close()
