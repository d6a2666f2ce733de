"""Runs the downstream agents as real subprocesses and feeds them verdicts, for integration tests.

Each test gets its own topics and a consumer group prefix; an agent's group is
``<prefix>-<role>``, as the agents derive it from HASHGATE_KAFKA__CONSUMER_GROUP. Tests wait
for an agent by its committed offsets: it commits a record only after the events that record
caused are confirmed, so "all committed" means "all outputs readable".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from hashgate_tools.harness.kafka import Record, create_topics, produce, unique, wait_committed
from hashgate_tools.harness.worker import WorkerProcess
from streams.events import (
    Event,
    MatchDetail,
    ScanInfo,
    Timings,
    Uploader,
    UploadEvent,
    Verdict,
)
from streams.events.topics import MODERATION, REPORTING, STATS, settings_of
from streams.kafka.spans import read_to_end
from streams.settings import KafkaSettings

E = TypeVar("E", bound=Event)

TOPIC_SETTINGS = settings_of(MODERATION, REPORTING, STATS)
PARTITIONS = 4


@dataclass
class DownstreamTopics:
    prefix: str = field(default_factory=lambda: unique("ds"))

    def name(self, setting: str) -> str:
        return f"{self.prefix}.{setting}"

    def group(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def env(self) -> dict[str, str]:
        env = {f"HASHGATE_TOPICS__{s.upper()}": self.name(s) for s in TOPIC_SETTINGS}
        env["HASHGATE_KAFKA__CONSUMER_GROUP"] = self.prefix
        env["HASHGATE_TOPICS__PARTITIONS"] = str(PARTITIONS)
        return env


class AgentProcess(WorkerProcess):
    """``python -m streams <command>``: one downstream agent, with its own web port and log."""

    def __init__(self, command: str, env: dict[str, str], log_path: Path) -> None:
        super().__init__(env, log_path, command)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class DownstreamSetup:
    bootstrap: str
    topics: DownstreamTopics
    start_agent: Callable[..., AgentProcess]

    async def publish(self, verdicts: Iterable[Verdict | bytes]) -> None:
        """Verdicts (keyed by content id) or raw bytes (poison) onto the match topic."""
        records = [
            Record(b"poison", v)
            if isinstance(v, bytes)
            else Record(v.content_id.encode(), v.encode())
            for v in verdicts
        ]
        await produce(self.bootstrap, self.topics.name("verdicts_match"), records)

    async def read(self, setting: str, model: type[E]) -> list[E]:
        """Every event on one topic now. Call it after ``wait_consumed``: an agent commits a
        record only once the events it caused are in Kafka, so nothing is still on its way."""
        kafka = KafkaSettings(bootstrap_servers=self.bootstrap)
        records = await read_to_end(kafka, [self.topics.name(setting)], within_s=30)
        return [model.decode(r.value) for r in records]

    async def wait_consumed(self, role: str, topic: str, total: int, within: float = 60) -> None:
        """Until the agent's group has committed all ``total`` records of ``topic``: each one
        handled and the events it caused confirmed by Kafka."""
        group = self.topics.group(role)
        await wait_committed(
            self.bootstrap,
            group,
            topic,
            lambda committed: sum(committed.values()) >= total,
            what=f"{group} committing all {total} records of {topic}",
            within_s=within,
        )

    async def wait_caught_up(self, role: str, topic: str, within: float = 60) -> int:
        """Until the agent's group has committed past the last committed record of ``topic``;
        returns how many records that is. For a topic written in Kafka transactions, whose
        offsets also hold the transactions' commit markers and so count no records."""
        kafka = KafkaSettings(bootstrap_servers=self.bootstrap)
        records = await read_to_end(kafka, [topic], within_s=30)
        last: dict[int, int] = {}
        for record in records:
            last[record.partition] = max(last.get(record.partition, -1), record.offset)
        group = self.topics.group(role)
        await wait_committed(
            self.bootstrap,
            group,
            topic,
            lambda committed: all(committed.get(p, 0) > o for p, o in last.items()),
            what=f"{group} committing past the last records of {topic}, {last}",
            within_s=within,
        )
        return len(records)


async def create_downstream_topics(bootstrap: str, topics: DownstreamTopics) -> None:
    await create_topics(bootstrap, [topics.name(s) for s in TOPIC_SETTINGS], PARTITIONS)


def match_verdict(
    n: int,
    media_url: str,
    *,
    tenant: str = "acme",
    content_id: str | None = None,
    flags: tuple[tuple[str, tuple[str, ...]], ...] = (("Test", ("A1",)),),
    scanned_at: datetime | None = None,
    scan: ScanInfo | None = None,
) -> Verdict:
    moment = scanned_at or datetime.now(UTC)
    upload = UploadEvent(
        event_id=f"evt-{n:04d}",
        tenant=tenant,
        content_id=content_id or f"content-{n:04d}",
        media_url=media_url,
        uploaded_at=moment,
        uploader=Uploader(account_id=f"acct-{n}", ip="198.51.100.23"),
    )
    return Verdict.for_upload(
        upload,
        is_match=True,
        matches=[MatchDetail(source=s, violations=list(v)) for s, v in flags],
        tracking_id=f"WUS_test_{n}",
        enhanced=False,
        attempts=1,
        timings=Timings(received_at=moment, scanned_at=moment, api_ms=3, total_ms=5),
        scan=scan or ScanInfo(),
    )
