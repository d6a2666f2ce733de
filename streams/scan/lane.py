"""One lane's path for a record, in the order it takes: scan, screen, route; then the ack.

The pipeline (pipeline.py) runs ``ScanLane.scan`` for each record it takes from the source, has
the router write the outcomes in rounds, and acks records in offset order once the broker
confirmed every record their outcome wrote. Nothing here calls back into the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, cast

from prometheus_client.metrics import MetricWrapperBase

from streams.kafka.record import SourceRecord
from streams.observability.metrics import ScanMetrics
from streams.scan.call_slots import CallSlots
from streams.scan.changes import ChangeFilter
from streams.scan.outputs import OutcomeRouter
from streams.scan.pipeline import ScanPipeline
from streams.scan.scanner import (
    DeadLetterOutcome,
    Outcome,
    RetryOutcome,
    Scanner,
    VerdictOutcome,
)

Metric = TypeVar("Metric", bound=MetricWrapperBase)


@dataclass
class ScanLane:
    """scanner -> change filter, then the router; ``calls`` bounds PhotoDNA calls, not writes."""

    scanner: Scanner
    changes: ChangeFilter
    router: OutcomeRouter
    calls: CallSlots = field(default_factory=lambda: CallSlots(1))

    async def scan(self, record: SourceRecord) -> Outcome:
        """The record's outcome, screened, for the router to write."""
        async with self.calls:
            outcome = await self.scanner.scan(record)
        return await self.changes.screen(outcome)

    def pipeline(self, *, max_in_flight: int, max_unacked: int, name: str) -> ScanPipeline[Outcome]:
        """This lane's records, scanned by ``scan`` and written by the router in rounds."""
        return ScanPipeline(
            self.scan,
            self.router.route_round,
            self.router.route,
            max_in_flight=max_in_flight,
            max_unacked=max_unacked,
            name=name,
        )


class OutcomeCounter:
    """Counts a lane's written outcomes on the worker's metrics.

    Each labelled child is looked up once: prometheus_client's ``labels()`` checks and joins
    its label values on every call, and a verdict took three of them (docs/benchmarks.md).
    """

    def __init__(self, metrics: ScanMetrics, lane: str) -> None:
        self.metrics = metrics
        self.lane = lane
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], MetricWrapperBase] = {}

    def __call__(self, outcome: Outcome) -> None:
        m = self.metrics
        match outcome:
            case VerdictOutcome(verdict=verdict):
                self._child(m.verdicts, verdict.verdict.value).inc()
                self._child(m.answered_by, verdict.answered_by).inc()
                self._child(m.api_latency).observe(verdict.timings.api_ms / 1000)
            case RetryOutcome():
                self._child(m.event_retries).inc()
            case DeadLetterOutcome(error=error):
                self._child(m.dlq, error.reason.value).inc()

    def _child(self, metric: Metric, *values: str) -> Metric:
        """``metric.labels(*values, lane)``, made once per metric and values."""
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values, self.lane)
        return cast(Metric, child)
