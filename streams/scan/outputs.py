"""Writes each outcome to its topic and returns only once Kafka has confirmed it.

The record that produced an outcome is acked after this returns, so "acked" always implies
"its verdict, retry or DLQ record is durably in Kafka". A failed write is retried with backoff
for as long as it takes: the record stays unacked meanwhile, which is a delay, not a loss.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiokafka.errors import KafkaError

from streams.events import VerdictKind
from streams.scan.record import (
    ATTEMPTS_HEADER,
    FIRST_SEEN_HEADER,
    NOT_BEFORE_HEADER,
)
from streams.scan.scanner import DeadLetterOutcome, Outcome, RetryOutcome, VerdictOutcome
from streams.settings import TopicSettings

log = logging.getLogger(__name__)

LANE_HEADER = "hashgate-lane"
Headers = list[tuple[str, bytes]]


class Publisher(Protocol):
    """Sends one record and waits for the broker's acknowledgement."""

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers
    ) -> None: ...


class OutcomeWriter:
    def __init__(
        self,
        publisher: Publisher,
        topics: TopicSettings,
        *,
        lane: str,
        on_written: Callable[[Outcome], None] = lambda _: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._publisher = publisher
        self._topics = topics
        self._lane = lane.encode()
        self._on_written = on_written
        self._sleep = sleep

    async def write(self, outcome: Outcome) -> None:
        topic, key, value, headers = self._route(outcome)
        delay = 0.1
        while True:
            try:
                await self._publisher.publish(topic, key, value, headers)
                break
            except (OSError, TimeoutError, KafkaError) as exc:
                log.warning("writing to %s failed (%r); retrying in ~%.1fs", topic, exc, delay)
            await self._sleep(delay * random.uniform(0.5, 1.0))  # jitter, not crypto
            delay = min(delay * 2, 10.0)
        self._on_written(outcome)

    def _route(self, outcome: Outcome) -> tuple[str, bytes | None, bytes, Headers]:
        match outcome:
            case VerdictOutcome(verdict=verdict):
                topic = (
                    self._topics.verdicts_match
                    if verdict.verdict is VerdictKind.MATCH
                    else self._topics.verdicts_clear
                )
                return topic, verdict.content_id.encode(), verdict.encode(), []
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
                return self._topics.retries, record.key, record.value or b"", headers
            case DeadLetterOutcome(error=error):
                return self._topics.scan_errors, error.key, error.encode(), []
        raise AssertionError(f"unknown outcome {outcome!r}")  # pragma: no cover
