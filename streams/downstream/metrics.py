"""Prometheus metrics of a downstream agent process, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class DownstreamMetrics:
    """What an operator alerts on: DLQ records, records held back, and what was written."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.records = Counter(
            "hashgate_downstream_records",
            "Records taken by a downstream agent, by what became of them "
            "(handled, duplicate, dead_lettered).",
            ["agent", "result"],
            registry=r,
        )
        self.held = Counter(
            "hashgate_downstream_held",
            "Times an agent held a record back to hand it over again later (backpressure).",
            ["agent"],
            registry=r,
        )
        self.emitted = Counter(
            "hashgate_downstream_emitted",
            "Events a downstream agent wrote, confirmed by Kafka.",
            ["agent", "topic"],
            registry=r,
        )
