"""Writes events for a downstream agent and returns only once Kafka has confirmed them.

An agent acks its input after its writes return, so "acked" always means "what it caused is in
Kafka". A failed write is retried with capped, jittered backoff for as long as it takes: the
input stays unacked meanwhile, which is a delay, not a loss.
"""

from __future__ import annotations

import logging

from aiokafka.errors import KafkaError

from streams.downstream.metrics import DownstreamMetrics
from streams.events import Event
from streams.photodna import RetryPolicy
from streams.scan.outputs import Publisher

log = logging.getLogger(__name__)

#: Backoff between attempts of one write; only its delays are used (there is no last attempt).
WRITE_BACKOFF = RetryPolicy(base_s=0.1, cap_s=10.0)


class Emitter:
    def __init__(
        self,
        publisher: Publisher,
        *,
        agent: str,
        metrics: DownstreamMetrics,
        backoff: RetryPolicy = WRITE_BACKOFF,
    ) -> None:
        self._publisher = publisher
        self._agent = agent
        self._metrics = metrics
        self._backoff = backoff

    async def emit(self, topic: str, key: bytes | None, event: Event) -> None:
        value = event.encode()
        failures = 0
        while True:
            try:
                await self._publisher.publish(topic, key, value, [])
                break
            except (OSError, TimeoutError, KafkaError) as exc:
                log.warning("writing to %s failed (%r); retrying", topic, exc)
            await self._backoff.wait(failures)
            failures += 1
        self._metrics.emitted.labels(self._agent, topic).inc()
