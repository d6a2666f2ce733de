"""What the worker writes for rescans: latest verdicts after the verdict, progress, replays."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from hashgate_tools.harness.waiting import eventually
from streams.errors import ReasonCode
from streams.events import (
    ScanError,
    ScanInfo,
    ScanKind,
    UploadEvent,
    Verdict,
)
from streams.events.rescan import RescanOutcome, Result
from streams.events.topics import (
    topic_name,
)
from streams.kafka.record import (
    ATTEMPTS_HEADER,
    FIRST_SEEN_HEADER,
    NOT_BEFORE_HEADER,
    REPLAYS_HEADER,
    SourceRecord,
)
from streams.retry import RetryPolicy
from streams.scan.outputs import LANE_HEADER, OutcomeRouter
from streams.scan.scanner import (
    DeadLetterOutcome,
    Outcome,
    RetryOutcome,
    ScanRequest,
    UnchangedOutcome,
    VerdictOutcome,
)
from streams.settings import TopicSettings
from tests.support import SendsByWriting, make_verdict, settle

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TOPICS = TopicSettings()
RESCAN = ScanInfo(kind=ScanKind.RESCAN, rescan_id="rs-1")
UPLOAD = UploadEvent(
    event_id="evt-1",
    tenant="acme",
    content_id="img-1",
    media_url="https://cdn.example.com/a.jpg",  # type: ignore[arg-type]
    uploaded_at=NOW,
)


def verdict(scan: ScanInfo, *, is_match: bool = False) -> Verdict:
    return make_verdict(upload=UPLOAD, scan=scan, is_match=is_match, matches=())


def dead_letter(scan: ScanInfo, replays: int = 0) -> DeadLetterOutcome:
    error = ScanError(
        reason=ReasonCode.MEDIA_UNREACHABLE,
        detail="refused",
        retryable=True,
        source_topic=TOPICS.rescans if scan.rescan_id else TOPICS.uploads,
        source_partition=0,
        source_offset=5,
        key=b"img-1",
        value=b"{}",
        attempts=1,
        first_seen=NOW,
        last_seen=NOW,
        event_id="evt-1",
        content_id="img-1",
        tenant="acme",
        scan=scan,
    )
    return DeadLetterOutcome(error, replays=replays)


class Recorder(SendsByWriting):
    """Writes instantly, except to ``held`` topics, which wait for ``release``."""

    def __init__(self, held: frozenset[str] = frozenset()) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]] = []
        self.entered: list[str] = []
        self.held = held
        self.release = asyncio.Event()

    async def write(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        self.entered.append(topic)
        if topic in self.held:
            await self.release.wait()
        self.sent.append((topic, key, value, headers))

    def topics(self) -> list[str]:
        return [topic for topic, *_ in self.sent]


def router(recorder: Recorder) -> OutcomeRouter:
    return OutcomeRouter(recorder, TOPICS, lane="rescan")


async def route_alone(out: OutcomeRouter, outcome: Outcome) -> None:
    await out.route(outcome)


async def route_in_a_round(out: OutcomeRouter, outcome: Outcome) -> None:
    assert await out.route_round([outcome]) == [True]


#: The two ways the worker writes an outcome: in its lane's round, and alone after a failure.
both_ways = pytest.mark.parametrize("write", [route_in_a_round, route_alone])
Write = Callable[[OutcomeRouter, Outcome], Awaitable[None]]


async def test_every_verdict_also_becomes_the_contents_latest_but_only_after_it_is_written() -> (
    None
):
    recorder = Recorder(held=frozenset({TOPICS.verdicts_match}))
    live = verdict(ScanInfo(), is_match=True)
    outcome = VerdictOutcome(live, ScanRequest(UPLOAD, ScanInfo()))
    writing = asyncio.create_task(router(recorder).route(outcome))
    await eventually(lambda: recorder.entered != [])
    assert recorder.entered == [TOPICS.verdicts_match]  # latest waits for the confirmation

    recorder.release.set()
    await asyncio.wait_for(writing, 5)

    assert recorder.topics() == [TOPICS.verdicts_match, TOPICS.verdicts_latest]
    assert recorder.sent[1][1:3] == (b"img-1", live.encode())


@both_ways
async def test_a_rescan_verdict_reports_its_outcome_to_the_progress_topic(write: Write) -> None:
    recorder = Recorder()
    rescanned = verdict(RESCAN)
    await write(router(recorder), VerdictOutcome(rescanned, ScanRequest(UPLOAD, RESCAN)))

    assert recorder.topics() == [
        TOPICS.verdicts_clear,
        TOPICS.verdicts_latest,
        topic_name(TOPICS, "rescans_progress"),
    ]
    _, key, value, _ = recorder.sent[2]
    outcome = RescanOutcome.decode(value)
    assert key == b"rs-1"
    assert (outcome.result, outcome.event_id, outcome.verdict_id) == (
        Result.CLEAR,
        "evt-1",
        rescanned.verdict_id,
    )


@both_ways
async def test_an_unchanged_rescan_verdict_emits_nothing_but_its_progress(write: Write) -> None:
    recorder = Recorder()
    await write(router(recorder), UnchangedOutcome(verdict(RESCAN), ScanRequest(UPLOAD, RESCAN)))

    assert recorder.topics() == [topic_name(TOPICS, "rescans_progress")]
    assert RescanOutcome.decode(recorder.sent[0][2]).result is Result.UNCHANGED


@both_ways
async def test_a_dead_lettered_rescan_counts_as_an_error_with_its_reason(write: Write) -> None:
    recorder = Recorder()
    await write(router(recorder), dead_letter(RESCAN))

    assert recorder.topics() == [TOPICS.scan_errors, topic_name(TOPICS, "rescans_progress")]
    outcome = RescanOutcome.decode(recorder.sent[1][2])
    assert (outcome.result, outcome.reason) == (Result.ERROR, ReasonCode.MEDIA_UNREACHABLE)


@both_ways
async def test_live_outcomes_write_no_progress(write: Write) -> None:
    recorder = Recorder()
    await write(router(recorder), dead_letter(ScanInfo()))

    assert recorder.topics() == [TOPICS.scan_errors]


@pytest.mark.parametrize(("replays", "headers"), [(0, []), (2, [(REPLAYS_HEADER, b"2")])])
async def test_dlq_records_keep_the_replay_count_for_the_next_replay(
    replays: int, headers: list[tuple[str, bytes]]
) -> None:
    recorder = Recorder()
    await router(recorder).route(dead_letter(ScanInfo(), replays=replays))

    assert recorder.sent[0][3] == headers


async def test_a_failed_write_is_retried_until_it_is_confirmed() -> None:
    class Flaky(Recorder):
        failures = 2

        async def write(
            self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
        ) -> None:
            if topic == TOPICS.verdicts_latest and self.failures:
                self.failures -= 1
                raise OSError("broker gone")
            await super().write(topic, key, value, headers)

    recorder = Flaky()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    backoff = RetryPolicy(base_s=0.1, cap_s=10.0, sleep=sleep)
    out = OutcomeRouter(recorder, TOPICS, lane="live", backoff=backoff)
    await out.route(VerdictOutcome(verdict(ScanInfo()), ScanRequest(UPLOAD, ScanInfo())))

    assert recorder.topics() == [TOPICS.verdicts_clear, TOPICS.verdicts_latest]
    assert len(slept) == 2


@both_ways
async def test_a_retry_record_is_the_original_bytes_with_fresh_retry_headers(write: Write) -> None:
    """The retry topic's record format: what consume_retries and the next scan read back."""
    first_seen = datetime(2026, 11, 21, 11, 0, tzinfo=UTC)
    original = SourceRecord(
        topic=TOPICS.rescans,
        partition=3,
        offset=41,
        key=b"img-1",
        value=b'{"exact": "original bytes"}',
        headers=(
            ("traceparent", b"00-abc-def-01"),
            (ATTEMPTS_HEADER, b"1"),
            (FIRST_SEEN_HEADER, first_seen.isoformat().encode()),
            (NOT_BEFORE_HEADER, b"2026-11-21T11:30:00+00:00"),
            (LANE_HEADER, b"live"),
        ),
        received_at=NOW,
    )
    recorder = Recorder()
    not_before = datetime(2026, 11, 21, 12, 5, tzinfo=UTC)

    await write(router(recorder), RetryOutcome(original, 2, not_before, "503"))

    [(topic, key, value, headers)] = recorder.sent
    assert (topic, key, value) == (TOPICS.retries, b"img-1", b'{"exact": "original bytes"}')
    assert headers == [
        ("traceparent", b"00-abc-def-01"),
        (ATTEMPTS_HEADER, b"2"),
        (FIRST_SEEN_HEADER, first_seen.isoformat().encode()),
        (NOT_BEFORE_HEADER, not_before.isoformat().encode()),
        (LANE_HEADER, b"rescan"),
    ]
    written = SourceRecord(TOPICS.retries, 0, 0, key, value, tuple(headers), NOW)
    assert written.previous_attempts == 2 and written.first_seen == first_seen
    assert written.time_header(NOT_BEFORE_HEADER) == not_before


async def test_a_retry_of_a_record_without_value_writes_empty_bytes() -> None:
    empty = SourceRecord(TOPICS.uploads, 0, 1, None, None, (), NOW)
    recorder = Recorder()

    await router(recorder).route(RetryOutcome(empty, 1, NOW, "503"))

    assert recorder.sent[0][1:3] == (None, b"")


class Queued(SendsByWriting):
    """A sender whose records wait, queued, until the test answers for them."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, bytes | None]] = []
        self.answers: list[asyncio.Future[object]] = []
        self.refuse: str | None = None

    async def write(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        raise AssertionError("a round writes nothing through write")

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[object]:
        if topic == self.refuse:
            raise OSError("producer buffer full")
        self.queued.append((topic, key))
        answer: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.answers.append(answer)
        return answer

    def confirm_all(self, *, failing: tuple[int, ...] = ()) -> None:
        for n, answer in enumerate(self.answers):
            if not answer.done():
                if n in failing:
                    answer.set_exception(OSError("broker gone"))
                else:
                    answer.set_result(None)


def live_verdicts(*content_ids: str) -> list[VerdictOutcome]:
    return [
        VerdictOutcome(
            make_verdict(
                upload=UPLOAD.model_copy(update={"content_id": c}), is_match=False, matches=()
            ),
            ScanRequest(UPLOAD, ScanInfo()),
        )
        for c in content_ids
    ]


@dataclass
class Round:
    """Three live verdicts' round being written into a ``Queued`` sender."""

    sender: Queued
    outcomes: list[VerdictOutcome]
    counted: list[Outcome]
    writing: asyncio.Task[list[bool]]


async def round_of_three() -> Round:
    """Started, up to its wait for the verdict records' acknowledgements."""
    sender, counted = Queued(), []
    out = OutcomeRouter(sender, TOPICS, lane="live", on_written=counted.append)
    outcomes = live_verdicts("a", "b", "c")
    writing = asyncio.create_task(out.route_round(outcomes))
    await eventually(lambda: len(sender.queued) == 3)
    await settle()
    return Round(sender, outcomes, counted, writing)


async def test_a_round_queues_every_record_of_a_stage_before_it_waits_for_any() -> None:
    r = await round_of_three()
    assert r.sender.queued == [(TOPICS.verdicts_clear, c) for c in (b"a", b"b", b"c")]

    r.sender.confirm_all()
    await eventually(lambda: len(r.sender.queued) == 6)
    assert r.sender.queued[3:] == [(TOPICS.verdicts_latest, c) for c in (b"a", b"b", b"c")]
    assert r.counted == [], "counted once written whole"
    r.sender.confirm_all()

    assert await asyncio.wait_for(r.writing, 5) == [True, True, True]
    assert r.counted == r.outcomes


async def test_an_outcome_whose_record_failed_in_a_round_gets_no_follow_up_and_is_reported() -> (
    None
):
    r = await round_of_three()
    r.sender.confirm_all(failing=(1,))
    await eventually(lambda: len(r.sender.queued) == 5)
    r.sender.confirm_all(failing=(4,))

    assert await asyncio.wait_for(r.writing, 5) == [True, False, False]
    assert r.sender.queued[3:] == [(TOPICS.verdicts_latest, b"a"), (TOPICS.verdicts_latest, b"c")]
    assert r.counted == r.outcomes[:1]


async def test_an_outcome_whose_record_could_not_be_queued_is_reported_with_no_follow_up() -> None:
    sender = Queued()
    sender.refuse = TOPICS.verdicts_latest
    out = OutcomeRouter(sender, TOPICS, lane="rescan")
    rescanned = VerdictOutcome(verdict(RESCAN), ScanRequest(UPLOAD, RESCAN))
    dead = dead_letter(RESCAN)
    writing = asyncio.create_task(out.route_round([rescanned, dead]))
    await eventually(lambda: len(sender.queued) == 2)
    sender.confirm_all()
    await eventually(lambda: len(sender.queued) == 3)
    sender.confirm_all()

    assert await asyncio.wait_for(writing, 5) == [False, True]
    assert [topic for topic, _ in sender.queued] == [
        TOPICS.verdicts_clear,
        TOPICS.scan_errors,
        topic_name(TOPICS, "rescans_progress"),
    ]
