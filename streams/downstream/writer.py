"""A downstream agent's writes: confirmed by Kafka, retried until they are, counted per topic.

An agent acks its input after its writes return, so "acked" always means "what it caused is in
Kafka". The retry is streams/kafka/confirmed.py's; this adds the agent's count of what it wrote
(``hashgate_downstream_emitted``).
"""

from __future__ import annotations

from streams.downstream.metrics import DownstreamMetrics
from streams.kafka.confirmed import WRITE_BACKOFF, ConfirmedWriter, CountingWriter, RetryingWriter
from streams.retry import RetryPolicy


def agent_writer(
    writer: ConfirmedWriter,
    *,
    agent: str,
    metrics: DownstreamMetrics,
    backoff: RetryPolicy = WRITE_BACKOFF,
) -> ConfirmedWriter:
    """``writer``, retried until confirmed and counted under ``agent``'s name."""
    emitted = metrics.emitted
    return CountingWriter(
        RetryingWriter(writer, backoff), lambda topic: emitted.labels(agent, topic).inc()
    )
