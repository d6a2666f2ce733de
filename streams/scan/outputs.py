"""Routes each outcome to its topics and returns only once Kafka has confirmed every record.

The record that produced an outcome is acked after this returns, so "acked" always implies
"its verdict, retry or DLQ record is durably in Kafka". A failed write is retried with backoff
for as long as it takes (streams/kafka/confirmed.py): the record stays unacked meanwhile, which
is a delay, not a loss.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from streams.events import VerdictKind
from streams.events.rescan import RescanOutcome
from streams.events.topics import (
    topic_name,
)
from streams.kafka.confirmed import WRITE_BACKOFF, ConfirmedWriter, Headers, RetryingWriter
from streams.kafka.record import (
    ATTEMPTS_HEADER,
    FIRST_SEEN_HEADER,
    NOT_BEFORE_HEADER,
    REPLAYS_HEADER,
)
from streams.retry import RetryPolicy
from streams.scan.scanner import (
    DeadLetterOutcome,
    Outcome,
    RetryOutcome,
    UnchangedOutcome,
    VerdictOutcome,
)
from streams.settings import TopicSettings

log = logging.getLogger(__name__)

LANE_HEADER = "hashgate-lane"
OutRecord = tuple[str, bytes | None, bytes, Headers]


class OutcomeRouter:
    """An outcome's records (verdict, retry or DLQ record, then its follow-ups), written."""

    def __init__(
        self,
        writer: ConfirmedWriter,
        topics: TopicSettings,
        *,  # pragma: no mutate (callers pass these by name)
        lane: str,
        on_written: Callable[[Outcome], None] = lambda _: None,
        backoff: RetryPolicy = WRITE_BACKOFF,
    ) -> None:
        self._writer = RetryingWriter(writer, backoff)
        self._topics = topics
        self._lane = lane.encode()
        self._on_written = on_written

    async def route(self, outcome: Outcome) -> None:
        """Writes the outcome's record, then its follow-ups; each is retried until confirmed.

        The follow-ups (the content's latest verdict, a rescan's progress) wait for the verdict:
        a latest-verdict record for a verdict that never got out would let an only-changed
        rescan suppress it for good.
        """
        records = self._records(outcome)
        await self._write_all(records)
        await self._write_all(self._follow_ups(outcome, records))
        self._on_written(outcome)

    async def _write_all(self, records: list[OutRecord]) -> None:
        """Concurrently; a single record (the usual stage) without gather's task per record."""
        match records:
            case [record]:
                await self._writer.write(*record)
            case _:
                await asyncio.gather(*(self._writer.write(*record) for record in records))

    def _follow_ups(self, outcome: Outcome, records: list[OutRecord]) -> list[OutRecord]:
        latest: list[OutRecord] = []
        match outcome:
            case VerdictOutcome(verdict=verdict):
                [(_, key, value, _)] = records  # the verdict record's: encoded once per event
                latest = [(self._topics.verdicts_latest, key, value, [])]
                done = RescanOutcome.of_verdict(verdict, emitted=True)
            case UnchangedOutcome(verdict=verdict):
                done = RescanOutcome.of_verdict(verdict, emitted=False)
            case DeadLetterOutcome(error=error):
                done = RescanOutcome.of_error(error)
            case _:
                done = None  # a retry is not an outcome yet
        if done is None:
            return latest
        return [
            *latest,
            (topic_name(self._topics, "rescans_progress"), done.key, done.encode(), []),
        ]

    def _records(self, outcome: Outcome) -> list[OutRecord]:
        match outcome:
            case VerdictOutcome(verdict=verdict):
                topic = {
                    VerdictKind.MATCH: self._topics.verdicts_match,
                    VerdictKind.CLEAR: self._topics.verdicts_clear,
                }[verdict.verdict]
                return [(topic, verdict.content_id.encode(), verdict.encode(), [])]
            case UnchangedOutcome():
                return []
            case RetryOutcome(record=record, attempts=attempts, not_before=not_before):
                headers = [
                    (k, v)
                    for k, v in record.headers
                    if k not in (ATTEMPTS_HEADER, FIRST_SEEN_HEADER, NOT_BEFORE_HEADER, LANE_HEADER)
                ]
                headers += [
                    (ATTEMPTS_HEADER, str(attempts).encode()),
                    (FIRST_SEEN_HEADER, record.first_seen.isoformat().encode()),
                    (NOT_BEFORE_HEADER, not_before.isoformat().encode()),
                    (LANE_HEADER, self._lane),
                ]
                return [(self._topics.retries, record.key, record.value or b"", headers)]
            case DeadLetterOutcome(error=error, replays=replays):
                replayed = [(REPLAYS_HEADER, str(replays).encode())] if replays else []
                return [(self._topics.scan_errors, error.key, error.encode(), replayed)]
        raise AssertionError(f"unknown outcome {outcome!r}")  # pragma: no cover
