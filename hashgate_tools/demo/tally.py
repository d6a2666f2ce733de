"""Accounting: which published record got which outcome, how fast, and whether it was right.

Records are matched by their Kafka key (the content id), which verdicts and DLQ records both
carry, so even a value that was not JSON at all is accounted for.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from hashgate_tools.demo.workload import Expected, PlannedRecord
from streams.events import ScanError, Verdict

DLQ = "DLQ"


@dataclass(frozen=True)
class Row:
    """One outcome as the table shows it."""

    content: str
    tenant: str
    image: str
    outcome: str  # "match", "clear" or "DLQ"
    detail: str  # the match source and violations, or the DLQ reason
    latency_ms: float
    expected: Expected
    duplicate: bool = False

    @property
    def as_expected(self) -> bool:
        got = self.detail if self.outcome == DLQ else self.outcome
        return got == self.expected.value


@dataclass
class Summary:
    planned: int
    published: int
    accounted: int
    missing: list[str]
    unexpected: list[str]
    duplicates: int
    verdicts: dict[str, int]
    dlq: dict[str, int]
    latency_ms: dict[str, float]
    elapsed_s: float
    scan_s: float
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return (
            not self.interrupted
            and self.accounted == self.published == self.planned
            and not self.missing
            and not self.unexpected
        )

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: a value that was actually observed."""
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)] if ordered else 0.0


@dataclass
class Tally:
    started_at: float
    planned: dict[bytes, PlannedRecord] = field(default_factory=dict)
    sent_at: dict[bytes, float] = field(default_factory=dict)
    rows: dict[bytes, Row] = field(default_factory=dict)
    duplicates: int = 0
    last_outcome_at: float | None = None

    def plan(self, records: list[PlannedRecord]) -> None:
        self.planned = {record.key: record for record in records}

    def published(self, record: PlannedRecord, at: float) -> None:
        self.sent_at[record.key] = at

    def finished(self, now: float, settle_s: float) -> bool:
        """Everything published has an outcome, or the last send is ``settle_s`` ago."""
        if len(self.sent_at) < len(self.planned):
            return False
        last_sent = max(self.sent_at.values(), default=now)
        return len(self.rows) == len(self.planned) or now - last_sent > settle_s

    @property
    def pending(self) -> int:
        return len(self.sent_at) - len(self.rows)

    def counts(self) -> Counter[str]:
        return Counter(row.outcome for row in self.rows.values())

    def add_verdict(self, verdict: Verdict, at: float) -> Row | None:
        matches = ", ".join(f"{m.source} {'/'.join(m.violations)}".strip() for m in verdict.matches)
        return self._add(verdict.content_id.encode(), verdict.verdict.value, matches, at)

    def add_error(self, error: ScanError, at: float) -> Row | None:
        return self._add(error.key or b"", DLQ, error.reason.value, at)

    def _add(self, key: bytes, outcome: str, detail: str, at: float) -> Row | None:
        """The row for a record this demo published; None for anything else on the topics."""
        planned = self.planned.get(key)
        if planned is None or key not in self.sent_at:
            return None
        duplicate = key in self.rows
        row = Row(
            content=planned.content_id,
            tenant=planned.tenant,
            image=planned.image,
            outcome=outcome,
            detail=detail,
            latency_ms=(at - self.sent_at[key]) * 1000,
            expected=planned.expected,
            duplicate=duplicate,
        )
        if duplicate:
            self.duplicates += 1  # at-least-once: same verdict id, consumers de-duplicate
        else:
            self.rows[key] = row
            self.last_outcome_at = at
        return row

    def summary(self, now: float, *, interrupted: bool = False) -> Summary:
        rows = list(self.rows.values())
        latencies = [row.latency_ms for row in rows]
        first_sent = min(self.sent_at.values(), default=now)
        return Summary(
            planned=len(self.planned),
            published=len(self.sent_at),
            accounted=len(rows),
            missing=sorted(
                self.planned[key].content_id for key in self.sent_at if key not in self.rows
            ),
            unexpected=sorted(
                f"{row.content}: expected {row.expected.value}, got {row.outcome} {row.detail}"
                for row in rows
                if not row.as_expected
            ),
            duplicates=self.duplicates,
            verdicts={
                kind: sum(1 for row in rows if row.outcome == kind) for kind in ("match", "clear")
            },
            dlq=dict(sorted(Counter(row.detail for row in rows if row.outcome == DLQ).items())),
            latency_ms={
                "p50": round(percentile(latencies, 0.50), 1),
                "p95": round(percentile(latencies, 0.95), 1),
                "max": round(max(latencies, default=0.0), 1),
            },
            elapsed_s=round(now - self.started_at, 1),
            scan_s=round((self.last_outcome_at or now) - first_sent, 1),
            interrupted=interrupted,
        )
