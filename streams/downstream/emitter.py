"""Writes events for a downstream agent and returns only once Kafka has confirmed them.

An agent acks its input after its writes return, so "acked" always means "what it caused is in
Kafka". The write is retried until confirmed (streams/kafka/confirmed.py); this adds the event's
encoding and the agent's count of what it emitted.
"""

from __future__ import annotations

from collections.abc import Sequence

from streams.downstream.metrics import DownstreamMetrics
from streams.events import Event
from streams.kafka.confirmed import WRITE_BACKOFF, ConfirmedWriter, RetryingWriter
from streams.retry import RetryPolicy


class Emitter:
    def __init__(
        self,
        writer: ConfirmedWriter,
        *,
        agent: str,
        metrics: DownstreamMetrics,
        backoff: RetryPolicy = WRITE_BACKOFF,
    ) -> None:
        self._writer = RetryingWriter(writer, backoff)
        self._agent = agent
        self._metrics = metrics

    async def emit(
        self,
        topic: str,
        key: bytes | None,
        event: Event,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        await self._writer.write(topic, key, event.encode(), list(headers))
        self._metrics.emitted.labels(self._agent, topic).inc()
