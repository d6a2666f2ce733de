"""What rescans write besides their requests: a manifest per run and one outcome per request.

Two small topics next to the rescans topic (names derived from it, so they follow its config):

- ``<rescans>.status``, compacted, key ``rescan_id``: the latest ``RescanManifest`` of each
  rescan: its selection, the number of requests published, and where its outcomes start.
- ``<rescans>.progress``, key ``rescan_id``: one ``RescanOutcome`` per finished request,
  written by the worker with the verdict (or DLQ record) and before the request is acked.

Counting outcomes there costs one pass over the rescan's own records; counting verdict topics
instead would mean reading every live verdict written since the rescan began.
"""

from __future__ import annotations

from streams.settings import Settings, TopicSettings

#: Outcomes are kept this long, so a rescan that runs for weeks can still be counted.
PROGRESS_RETENTION_MS = 30 * 24 * 3600 * 1000


def status_topic(topics: TopicSettings) -> str:
    return f"{topics.rescans}.status"


def progress_topic(topics: TopicSettings) -> str:
    return f"{topics.rescans}.progress"


def replay_marks_topic(topics: TopicSettings) -> str:
    """Compacted; one DlqReplayMark per DLQ record ``hashgate dlq replay`` re-injected."""
    return f"{topics.scan_errors}.replayed"


def rescan_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """Topics the rescan command writes, with their configs (for ``ensure_topics``)."""
    topics = settings.topics
    return {
        topics.rescans: {},
        status_topic(topics): {"cleanup.policy": "compact"},
        progress_topic(topics): {"retention.ms": str(PROGRESS_RETENTION_MS)},
    }
