"""Routes outcomes to their topics and returns only once Kafka has confirmed every record.

The record that produced an outcome is acked after this returns, so "acked" always implies
"its verdict, retry or DLQ record is durably in Kafka". ``route_round`` writes a lane's round of
outcomes once each, all queued before it waits for any; ``route`` writes one outcome and retries
a failed write with backoff for as long as it takes (streams/kafka/confirmed.py): the record
stays unacked meanwhile, which is a delay, not a loss.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from streams.events import VerdictKind
from streams.events.rescan import RescanOutcome
from streams.events.topics import (
    topic_name,
)
from streams.kafka.confirmed import (
    KAFKA_ERRORS,
    WRITE_BACKOFF,
    ConfirmedSender,
    Headers,
    RetryingWriter,
)
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
        writer: ConfirmedSender,
        topics: TopicSettings,
        *,  # pragma: no mutate (callers pass these by name)
        lane: str,
        on_written: Callable[[Outcome], None] = lambda _: None,
        backoff: RetryPolicy = WRITE_BACKOFF,
    ) -> None:
        self._sender = writer
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

    async def route_round(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """Writes each outcome's record once, then the follow-ups of those Kafka confirmed.

        True for each outcome whose records are all confirmed; False for one whose write failed,
        for ``route`` to write again on its own (a failed write holds up only its own record).
        If only a follow-up failed, that writes the verdict a second time: a duplicate that its
        consumers drop (by ``verdict_id``; a rescan's status counts each event once).
        Every record of a stage is queued before the first confirmation is awaited, so a round
        costs the lane one wait a stage, not one a record (docs/benchmarks.md).
        """
        records = [self._records(outcome) for outcome in outcomes]
        sent = await self._write_stage(records)
        rest = [
            self._follow_ups(outcome, mine) if ok else None
            for outcome, mine, ok in zip(outcomes, records, sent, strict=True)  # pragma: no mutate
        ]
        written = await self._write_stage(rest)
        for outcome, ok in zip(outcomes, written, strict=True):  # pragma: no mutate (same length)
            if ok:
                self._on_written(outcome)
        return written

    async def _write_stage(self, stage: Sequence[list[OutRecord] | None]) -> list[bool]:
        """Sends each outcome's records (None: an outcome already failed), then waits for each;
        which outcomes were written."""
        sent = [
            (False, []) if records is None else await self._send_all(records) for records in stage
        ]
        return [await _confirmed(pending) and queued for queued, pending in sent]

    async def _send_all(
        self, records: list[OutRecord]
    ) -> tuple[bool, list[asyncio.Future[object]]]:
        """Whether every record was queued, and the acknowledgements of those that were."""
        pending = []
        for topic, key, value, headers in records:
            try:
                pending.append(await self._sender.send(topic, key, value, headers))
            except KAFKA_ERRORS as exc:
                log.warning("sending to %s failed (%r); written again on its own", topic, exc)
                return False, pending
        return True, pending

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


async def _confirmed(pending: list[asyncio.Future[object]]) -> bool:
    """Whether the broker acknowledged every one of ``pending`` (each is awaited either way)."""
    confirmed = True
    for future in pending:
        try:
            await future
        except KAFKA_ERRORS as exc:
            log.warning("a write failed (%r); written again on its own", exc)
            confirmed = False
    return confirmed
