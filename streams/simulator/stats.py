"""What the simulator answered, so tests assert on behaviour (retries, 429s) instead of timing.

Keys are counted under a fingerprint, never under their value: the stats page is plain JSON
that ends up in test output and benchmark reports.
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Answer(StrEnum):
    OK_MATCH = "ok_match"
    OK_CLEAR = "ok_clear"
    REPORT_ACCEPTED = "reports"
    STATUS_3002 = "status_3002"
    STATUS_3004 = "status_3004"
    STATUS_3206 = "status_3206"
    STATUS_3208 = "status_3208"
    STATUS_3209 = "status_3209"
    STATUS_UNKNOWN = "status_unknown"  # an injected undocumented Status code
    MALFORMED = "malformed"  # an injected answer without a readable Status (HTML, no Status)
    HTTP_401 = "http_401"
    HTTP_404 = "http_404"
    HTTP_429 = "http_429"
    HTTP_5XX = "http_5xx"
    TIMEOUT = "timeout"
    DROPPED = "connection_dropped"


def key_fingerprint(key: str) -> str:
    """How a key shows up in stats: enough to tell keys apart, useless to call the API with."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:12]


class StatsSnapshot(BaseModel):
    """``GET /admin/stats``: every Answer kind is present, zero if it never happened."""

    model_config = ConfigDict(frozen=True)

    total_requests: int
    answers: dict[str, int]
    http_5xx_by_status: dict[str, int] = Field(default_factory=dict)
    per_key: dict[str, int] = Field(default_factory=dict)

    def __getitem__(self, kind: Answer | str) -> int:
        return self.answers[str(kind)]

    def for_key(self, key: str) -> int:
        return self.per_key.get(key_fingerprint(key), 0)


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._total = 0
        self._answers: Counter[Answer] = Counter()
        self._server_errors: Counter[int] = Counter()
        self._per_key: Counter[str] = Counter()

    def request(self, key_id: str | None) -> None:
        self._total += 1
        if key_id is not None:
            self._per_key[key_id] += 1

    def answer(self, kind: Answer, http_status: int | None = None) -> None:
        self._answers[kind] += 1
        if kind is Answer.HTTP_5XX and http_status is not None:
            self._server_errors[http_status] += 1

    def snapshot(self) -> StatsSnapshot:
        return StatsSnapshot(
            total_requests=self._total,
            answers={kind.value: self._answers[kind] for kind in Answer},
            http_5xx_by_status={str(code): n for code, n in sorted(self._server_errors.items())},
            per_key=dict(self._per_key),
        )


class ReceivedReport(BaseModel):
    """A /Report call as received, minus what must not be kept: password and image bytes."""

    model_config = ConfigDict(frozen=True)

    tracking_id: str
    report_id: str | None
    status_code: int
    has_x_usr: bool
    has_x_pwd: bool
    is_test: bool
    body: dict[str, Any]


class ReportLog:
    """The last N reports, so memory stays flat under a long benchmark."""

    def __init__(self, keep: int) -> None:
        self._reports: deque[ReceivedReport] = deque(maxlen=keep)

    def add(self, report: ReceivedReport) -> None:
        self._reports.append(report)

    def all(self) -> list[ReceivedReport]:
        return list(self._reports)

    def clear(self) -> None:
        self._reports.clear()
