"""``hashgate rescan status``: done / total / matches / errors of one rescan, and an ETA.

The manifest (status topic) gives the total and where the run's outcomes begin; the outcomes
(progress topic) are read from there, keeping the last result per event id: a request scanned
twice (a crash before its ack, a DLQ replay that turned an error into a verdict) counts once.
Memory: one small entry per request of the rescan while counting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streams.errors import EventDecodeError
from streams.events.rescan import RescanManifest, RescanOutcome, Result, RunState
from streams.events.topics import (
    topic_name,
)
from streams.kafka.spans import Reader, Span, partitions_of, plan_spans, read_spans
from streams.kafka.spans import reader as kafka_reader
from streams.settings import Settings


class RescanNotFound(LookupError):
    """No manifest with this rescan id on the status topic."""


@dataclass
class RescanStatus:
    manifest: RescanManifest
    results: Counter[Result] = field(default_factory=Counter)
    first_at: datetime | None = None
    last_at: datetime | None = None
    _by_event: dict[str, Result] = field(default_factory=dict, repr=False)

    def add(self, outcome: RescanOutcome) -> None:
        """Counts ``outcome``, replacing any earlier result of the same event."""
        if outcome.rescan_id != self.manifest.rescan_id:
            return
        previous = self._by_event.get(outcome.event_id)
        if previous is not None:
            self.results[previous] -= 1
        self._by_event[outcome.event_id] = outcome.result
        self.results[outcome.result] += 1
        self.first_at = min(self.first_at or outcome.at, outcome.at)
        self.last_at = max(self.last_at or outcome.at, outcome.at)

    @property
    def done(self) -> int:
        return sum(self.results.values())

    @property
    def total(self) -> int | None:
        return self.manifest.total

    @property
    def complete(self) -> bool:
        return (
            self.manifest.state is RunState.PUBLISHED
            and self.total is not None
            and self.done >= self.total
        )

    @property
    def rate(self) -> float | None:
        """Outcomes per second so far, from the first to the latest outcome."""
        if self.first_at is None or self.last_at is None:
            return None
        seconds = (self.last_at - self.first_at).total_seconds()
        return (self.done - 1) / seconds if seconds > 0 and self.done > 1 else None

    @property
    def eta_s(self) -> float | None:
        rate = self.rate
        if self.total is None or not rate:
            return None
        return max(self.total - self.done, 0) / rate

    def as_dict(self) -> dict[str, Any]:
        return {
            "rescan_id": self.manifest.rescan_id,
            "state": self.manifest.state.value,
            "only_changed": self.manifest.only_changed,
            "total": self.total,
            "done": self.done,
            **{result.value: self.results[result] for result in Result},
            "complete": self.complete,
            "rate_per_s": self.rate,
            "eta_s": self.eta_s,
            "selection": self.manifest.selection.model_dump(mode="json"),
        }


class StatusTracker:
    """Follows one rescan; each ``refresh`` reads only what was written since the last one."""

    def __init__(self, settings: Settings, rescan_id: str, consumer: Reader) -> None:
        self._settings = settings
        self._rescan_id = rescan_id
        self._consumer = consumer
        self._positions: dict[int, int] = {}
        self._status: RescanStatus | None = None

    async def refresh(self) -> RescanStatus:
        manifest = await self._read_manifest()
        if self._status is None or manifest.progress_from != self._status.manifest.progress_from:
            self._status = RescanStatus(manifest)  # first look, or a new run of the same id
            self._positions = dict(manifest.progress_from)
        self._status.manifest = manifest
        await self._read_outcomes(self._status)
        return self._status

    async def _read_manifest(self) -> RescanManifest:
        topic = topic_name(self._settings.topics, "rescans_status")
        spans = await plan_spans(self._consumer, topic, await partitions_of(self._settings, topic))
        found: RescanManifest | None = None
        key = self._rescan_id.encode()
        async for batch in read_spans(self._consumer, spans):
            for record in batch:
                if record.key == key and record.value is not None:
                    found = RescanManifest.decode(record.value)
        if found is None:
            raise RescanNotFound(f"no rescan {self._rescan_id!r} on {topic}")
        return found

    async def _read_outcomes(self, status: RescanStatus) -> None:
        topic = topic_name(self._settings.topics, "rescans_progress")
        current = await plan_spans(
            self._consumer, topic, await partitions_of(self._settings, topic)
        )
        spans = [
            Span(topic, s.partition, self._positions.get(s.partition, 0), s.end) for s in current
        ]
        async for batch in read_spans(self._consumer, spans):
            for record in batch:
                try:
                    status.add(RescanOutcome.decode(record.value or b""))
                except EventDecodeError:
                    continue  # the topic is hashgate's own; a stray record is not an outcome
        self._positions.update({s.partition: max(s.start, s.end) for s in spans})


@asynccontextmanager
async def tracker(settings: Settings, rescan_id: str) -> AsyncIterator[StatusTracker]:
    async with kafka_reader(settings) as consumer:
        yield StatusTracker(settings, rescan_id, consumer)


async def rescan_status(settings: Settings, rescan_id: str) -> RescanStatus:
    async with tracker(settings, rescan_id) as following:
        return await following.refresh()
