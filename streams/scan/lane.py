"""One lane's path for a record, in the order it takes: scan, screen, route; then the ack.

The pipeline (pipeline.py) runs ``ScanLane.handle`` for each record it takes from the source
and acks records in offset order once it returns, that is once the broker confirmed every
record the outcome wrote. Nothing here calls back into the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.kafka.record import SourceRecord
from streams.observability.metrics import ScanMetrics
from streams.scan.call_slots import CallSlots
from streams.scan.changes import ChangeFilter
from streams.scan.outputs import OutcomeRouter
from streams.scan.scanner import (
    DeadLetterOutcome,
    Outcome,
    RetryOutcome,
    Scanner,
    VerdictOutcome,
)


@dataclass
class ScanLane:
    """scanner -> change filter -> router; ``calls`` bounds PhotoDNA calls, not Kafka writes."""

    scanner: Scanner
    changes: ChangeFilter
    router: OutcomeRouter
    calls: CallSlots = field(default_factory=lambda: CallSlots(1))

    async def handle(self, record: SourceRecord) -> None:
        async with self.calls:
            outcome = await self.scanner.scan(record)
        await self.router.route(await self.changes.screen(outcome))


@dataclass(frozen=True)
class OutcomeCounter:
    """Counts a lane's written outcomes on the worker's metrics."""

    metrics: ScanMetrics
    lane: str

    def __call__(self, outcome: Outcome) -> None:
        m, name = self.metrics, self.lane
        match outcome:
            case VerdictOutcome(verdict=verdict):
                m.verdicts.labels(verdict.verdict.value, name).inc()
                m.answered_by.labels(verdict.answered_by, name).inc()
                m.api_latency.labels(name).observe(verdict.timings.api_ms / 1000)
            case RetryOutcome():
                m.event_retries.labels(name).inc()
            case DeadLetterOutcome(error=error):
                m.dlq.labels(error.reason.value, name).inc()
