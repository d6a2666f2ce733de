"""The suite's shared fakes and builders: one clock, one verdict builder, one upload builder.

Test modules import from here, never from each other.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streams.downstream.metrics import DownstreamMetrics
from streams.downstream.writer import agent_writer
from streams.events import (
    BankMatch,
    Event,
    MatchDetail,
    ScanInfo,
    Timings,
    Uploader,
    UploadEvent,
    Verdict,
)
from streams.kafka.confirmed import ConfirmedWriter
from streams.kafka.record import SourceRecord
from streams.photodna import MatchResult, RetryPolicy

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


class FakeClock:
    """Monotonic seconds and a sleep that move only when the test says so.

    Call it for the time; ``advance`` moves it; ``run_until`` also wakes every task sleeping
    in ``sleep`` at its own due time on the way, in order.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        wakeup: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), wakeup))
        await wakeup

    async def run_until(self, deadline: float) -> None:
        """Advance to ``deadline``, waking every sleeper at its own time on the way."""
        while True:
            await settle()
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            if not self._sleepers or self._sleepers[0][0] > deadline:
                break
            due, _, wakeup = heapq.heappop(self._sleepers)
            self.now = max(self.now, due)
            wakeup.set_result(None)
        self.now = deadline
        await settle()


async def settle() -> None:
    """Let every runnable task run until it waits again (for tasks that do no real I/O)."""
    for _ in range(30):
        await asyncio.sleep(0)


def make_upload(
    n: int = 1,
    *,
    tenant: str = "acme",
    content_id: str | None = None,
    media_url: str | None = None,
    uploaded_at: datetime = NOW,
) -> UploadEvent:
    """Upload ``n``: its own event, content and account ids; a pre-signed (secret) URL."""
    return UploadEvent(
        event_id=f"evt-{n}",
        tenant=tenant,
        content_id=content_id or f"content-{n}",
        media_url=media_url or f"https://cdn.example.com/private/{n}.png?sig=secret",  # type: ignore[arg-type]
        uploaded_at=uploaded_at,
        uploader=Uploader(account_id=f"acct-{n}", ip="203.0.113.7"),  # type: ignore[arg-type]
    )


def make_verdict(
    n: int = 1,
    *,
    tenant: str = "acme",
    content_id: str | None = None,
    flags: tuple[tuple[str, tuple[str, ...]], ...] = (("Test", ("A1",)),),
    matches: Sequence[MatchDetail] | None = None,
    scanned_at: datetime = NOW,
    scan: ScanInfo | None = None,
    is_match: bool = True,
    upload: UploadEvent | None = None,
    tracking_id: str | None = None,
    answered_by: str = "photodna",
    bank_matches: Sequence[BankMatch] = (),
) -> Verdict:
    """A verdict on ``upload`` (default: upload ``n``): a match with ``flags`` (or exactly
    ``matches``) unless ``is_match`` is false."""
    if matches is None:
        matches = [MatchDetail(source=s, violations=list(v), match_id="m-1") for s, v in flags]
    return Verdict.for_upload(
        upload or make_upload(n, tenant=tenant, content_id=content_id),
        is_match=is_match,
        matches=list(matches) if is_match else [],
        tracking_id=tracking_id or f"WUS_{n}",
        enhanced=False,
        attempts=1,
        timings=Timings(received_at=scanned_at, scanned_at=scanned_at, api_ms=5, total_ms=9),
        scan=scan or ScanInfo(),
        answered_by=answered_by,
        bank_matches=bank_matches,
    )


def clear_result(**fields: object) -> MatchResult:
    """A Status 3000 ``IsMatch: false`` answer; ``fields`` override any part of it."""
    answer: dict[str, object] = {
        "is_match": False,
        "flags": [],
        "tracking_id": "WUS_t",
        "status_code": 3000,
        "status_description": "OK",
        "attempts": 1,
        "api_seconds": 0.01,
    }
    return MatchResult(**{**answer, **fields})  # type: ignore[arg-type]


def record_of(
    event: Event | bytes,
    *,
    key: bytes = b"content-1",
    partition: int = 2,
    offset: int = 0,
    headers: Sequence[tuple[str, bytes]] = (),
) -> SourceRecord:
    value = event if isinstance(event, bytes) else event.encode()
    return SourceRecord(
        topic="content.verdicts.match",
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        headers=tuple(headers),
        received_at=NOW,
    )


class SendsByWriting(ABC):
    """A fake writer's ``send``: its ``write`` as a task, whose end is the broker's answer."""

    @abstractmethod
    async def write(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None: ...

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[object]:
        written: asyncio.Future[object] = asyncio.ensure_future(
            self.write(topic, key, value, headers)
        )
        return written


@dataclass
class RecordingWriter:
    """Writes into a list; fails the first ``failures`` calls like a broker hiccup."""

    failures: int = 0
    sent: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    #: The headers of each record in ``sent``, in the same order.
    headers: list[list[tuple[str, bytes]]] = field(default_factory=list)

    async def write(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("broker unreachable")
        self.sent.append((topic, key, value))
        self.headers.append(headers)

    def on(self, topic: str) -> list[bytes]:
        return [value for t, _key, value in self.sent if t == topic]


@dataclass
class Sleeps:
    """An injectable sleep that only records how long it was asked to wait."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(base_s=1.0, cap_s=60.0, sleep=self, random=lambda: 1.0)


def agent_writer_of(publisher: RecordingWriter, sleeps: Sleeps | None = None) -> ConfirmedWriter:
    """A downstream agent's writer (retrying, counting) over ``publisher``."""
    return agent_writer(
        publisher,
        agent="test",
        metrics=DownstreamMetrics(),
        backoff=(sleeps or Sleeps()).policy(),
    )
