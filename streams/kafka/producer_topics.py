"""Keeps every topic a producer writes to in its metadata, so no record waits on a lost leader.

aiokafka 0.14's client fetches metadata for all topics while it tracks none, and only for the
topics it tracks once it tracks any; it starts tracking a topic only when a send finds that
topic missing from its metadata. A topic first seen through an all-topics fetch (faust runs one
after creating a topic) is therefore written to untracked. The next send to a topic created
later makes the client track that one topic, and the fetch it triggers replaces the metadata
with that topic alone: a batch still queued for the untracked topic now has no known leader.
The sender keeps asking for metadata that never includes it, so the record waits, silently,
until its batch expires (20 minutes with faust's defaults) or another record for that topic
comes along. In hashgate that was a verdict never confirmed, its upload never acked, and a
rescan whose status stayed one outcome short.

Tracking a topic before its first record is queued closes the gap: every later fetch includes
it. That means every topic the producer writes, including those faust writes itself (table
changelogs): ``FaustWriter`` (confirmed.py) tracks them before the agents get a record.
``tests/integration/test_producer_topics.py`` reproduces the sequence on a real broker.
"""

from __future__ import annotations

from aiokafka.client import AIOKafkaClient


class TrackedTopics:
    """The topics one producer's client fetches metadata for; ``track`` before each send."""

    def __init__(self, client: AIOKafkaClient) -> None:
        self._client = client
        self._tracked: set[str] = set()

    def track(self, topic: str) -> None:
        """Make sure ``topic`` stays in the client's metadata; a set lookup once it does."""
        if topic not in self._tracked:
            self._client.add_topic(topic)  # its metadata update runs in the background
            self._tracked.add(topic)
