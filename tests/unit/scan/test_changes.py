"""--only-changed: which rescan verdicts count as unchanged, and that doubt means "emit"."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import cast

import pytest
from aiokafka.errors import KafkaConnectionError

from streams.events import MatchDetail, ScanInfo, ScanKind, UploadEvent, Verdict
from streams.kafka.latest_table import LatestVerdictTable, StateUnavailable
from streams.scan.changes import ChangeFilter, LatestRecording, LatestVerdicts, verdict_digest
from streams.scan.scanner import ScanRequest, UnchangedOutcome, VerdictOutcome
from tests.support import SendsByWriting, make_verdict

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RESCAN = ScanInfo(kind=ScanKind.RESCAN, rescan_id="rs-1")
UPLOAD = UploadEvent(
    event_id="evt-1",
    tenant="acme",
    content_id="img-1",
    media_url="https://cdn.example.com/a.jpg",  # type: ignore[arg-type]
    uploaded_at=NOW,
)
A1 = MatchDetail(source="Test", violations=["A1"], match_id="104149")
B2 = MatchDetail(source="NCMEC", violations=["B2", "A1"], match_id="7")


def verdict(*matches: MatchDetail, scan: ScanInfo = RESCAN, tracking: str = "WUS_a") -> Verdict:
    return make_verdict(
        upload=UPLOAD, matches=matches, is_match=bool(matches), scan=scan, tracking_id=tracking
    )


def outcome(v: Verdict, *, only_changed: bool = True) -> VerdictOutcome:
    return VerdictOutcome(v, ScanRequest(UPLOAD, v.scan, only_changed))


def test_the_digest_ignores_who_scanned_when_but_not_what_matched() -> None:
    live = verdict(A1, B2, scan=ScanInfo(), tracking="WUS_x")
    assert verdict_digest(live) == verdict_digest(verdict(B2, A1))  # order, scan, tracking
    assert verdict_digest(verdict()) == verdict_digest(verdict(scan=ScanInfo()))
    distinct = {
        verdict_digest(verdict()),
        verdict_digest(verdict(A1)),
        verdict_digest(verdict(B2)),
        verdict_digest(verdict(A1, B2)),
        verdict_digest(verdict(A1.model_copy(update={"violations": ["A2"]}))),
    }
    assert len(distinct) == 5


class Lookups:
    def __init__(self, answer: str | Exception | None) -> None:
        self.answer = answer
        self.asked: list[str] = []

    async def __call__(self, content_id: str) -> str | None:
        self.asked.append(content_id)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_the_same_verdict_as_last_time_is_not_emitted() -> None:
    lookups = Lookups(verdict_digest(verdict(A1, scan=ScanInfo())))
    screened = await ChangeFilter(lookups).screen(outcome(verdict(A1)))

    assert isinstance(screened, UnchangedOutcome)
    assert lookups.asked == ["img-1"]


@pytest.mark.parametrize(
    "last",
    [None, verdict_digest(verdict()), verdict_digest(verdict(B2))],
    ids=["never-scanned", "was-clear", "other-match"],
)
async def test_a_new_or_different_verdict_is_emitted(last: str | None) -> None:
    original = outcome(verdict(A1))
    assert await ChangeFilter(Lookups(last)).screen(original) is original


@pytest.mark.parametrize(
    "failure",
    [
        KafkaConnectionError(),
        OSError("down"),
        TimeoutError(),
        StateUnavailable("partition not restored here"),
    ],
)
async def test_when_the_last_verdict_cannot_be_read_the_verdict_is_emitted(
    failure: Exception,
) -> None:
    original = outcome(verdict(A1))
    assert await ChangeFilter(Lookups(failure)).screen(original) is original


async def test_a_slow_lookup_times_out_into_emitting() -> None:
    class Never:
        async def __call__(self, content_id: str) -> str | None:
            await asyncio.Event().wait()
            return None

    original = outcome(verdict(A1))
    assert await ChangeFilter(Never(), timeout_s=0.05).screen(original) is original


async def test_requests_without_only_changed_are_not_looked_up() -> None:
    lookups = Lookups(verdict_digest(verdict(A1)))
    original = outcome(verdict(A1), only_changed=False)

    assert await ChangeFilter(lookups).screen(original) is original
    assert lookups.asked == []


LATEST = "content.verdicts.latest"


class Table:
    """The latest-verdict table as the lookup and the recording writer use it."""

    topic = LATEST

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}
        self.pending = 0

    def latest(self, content_id: str) -> bytes | None:
        return self.records.get(content_id)

    def begin_write(self, key: bytes) -> int:
        self.pending += 1
        return 0

    def end_write(self, partition: int, key: bytes, confirmed: bytes | None) -> None:
        self.pending -= 1
        if confirmed is not None:
            self.records[key.decode()] = confirmed


class Writer(SendsByWriting):
    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.written: list[tuple[str, bytes | None]] = []

    async def write(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        if self.failure is not None:
            raise self.failure
        self.written.append((topic, key))


def latest_table(table: Table) -> LatestVerdictTable:
    return cast(LatestVerdictTable, table)


async def test_the_lookup_compares_with_the_verdict_the_table_holds() -> None:
    table = Table()
    lookups = LatestVerdicts(latest_table(table))
    assert await lookups.last("img-1") is None

    table.records["img-1"] = verdict(A1, scan=ScanInfo()).encode()

    assert await lookups.last("img-1") == verdict_digest(verdict(A1))


async def test_an_unreadable_record_in_the_table_means_emitting() -> None:
    table = Table()
    table.records["img-1"] = b"{not a verdict"
    original = outcome(verdict(A1))

    assert await ChangeFilter(LatestVerdicts(latest_table(table)).last).screen(original) is original


async def test_only_a_confirmed_latest_verdict_reaches_the_table() -> None:
    table = Table()
    recording = LatestRecording(Writer(), latest_table(table))
    await recording.write("content.verdicts.clear", b"img-1", b"clear-verdict", [])
    assert table.records == {}

    await recording.write(LATEST, b"img-1", b"latest-verdict", [])
    assert table.records == {"img-1": b"latest-verdict"}

    failing = LatestRecording(Writer(KafkaConnectionError()), latest_table(table))
    with pytest.raises(KafkaConnectionError):
        await failing.write(LATEST, b"img-1", b"never-confirmed", [])
    assert (table.records, table.pending) == ({"img-1": b"latest-verdict"}, 0)


async def test_a_queued_latest_verdict_is_in_the_table_before_its_sender_sees_it_confirmed() -> (
    None
):
    """The lane acks a record, and lets its key's next record be looked up, once it sees the
    confirmation: by then the table must hold the verdict, or an only-changed rescan of the same
    content could miss it."""
    table = Table()
    recording = LatestRecording(Writer(), latest_table(table))

    pending = await recording.send(LATEST, b"img-1", b"latest-verdict", [])
    assert (table.records, table.pending) == ({}, 1)
    await pending

    assert (table.records, table.pending) == ({"img-1": b"latest-verdict"}, 0)


async def test_a_latest_verdict_the_producer_refused_leaves_the_table_as_it_was() -> None:
    table = Table()

    class Refusing(Writer):
        async def send(
            self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
        ) -> asyncio.Future[object]:
            raise KafkaConnectionError()

    with pytest.raises(KafkaConnectionError):
        await LatestRecording(Refusing(), latest_table(table)).send(LATEST, b"img-1", b"v", [])
    assert (table.records, table.pending) == ({}, 0)
