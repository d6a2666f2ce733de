"""Counting a rescan: last result per event wins, done against total, rate and ETA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.errors import ReasonCode
from streams.events.rescan import RescanManifest, RescanOutcome, Result, RunState, SelectionInfo
from streams.rescan.status import RescanStatus

pytestmark = pytest.mark.unit

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def manifest(state: RunState = RunState.PUBLISHED, total: int | None = 4) -> RescanManifest:
    return RescanManifest(
        rescan_id="rs-1",
        state=state,
        requested_at=T0,
        only_changed=True,
        selection=SelectionInfo(source_topic="content.uploads"),
        progress_from={0: 10},
        total=total,
    )


def outcome(n: int, result: Result, *, at: int = 0, rescan_id: str = "rs-1") -> RescanOutcome:
    return RescanOutcome(
        rescan_id=rescan_id,
        event_id=f"evt-{n}",
        content_id=f"c-{n}",
        result=result,
        reason=ReasonCode.MEDIA_UNREACHABLE if result is Result.ERROR else None,
        at=T0 + timedelta(seconds=at),
    )


def test_a_replayed_error_that_became_a_verdict_counts_once_as_the_verdict() -> None:
    status = RescanStatus(manifest())
    status.add(outcome(1, Result.ERROR))
    status.add(outcome(2, Result.CLEAR))
    status.add(outcome(2, Result.CLEAR))  # scanned twice (a crash before its ack)
    status.add(outcome(1, Result.MATCH))

    assert status.done == 2
    assert (status.results[Result.MATCH], status.results[Result.ERROR]) == (1, 0)
    assert not status.complete


def test_complete_when_every_published_request_has_an_outcome() -> None:
    status = RescanStatus(manifest())
    for n, result in enumerate([Result.MATCH, Result.CLEAR, Result.UNCHANGED, Result.ERROR]):
        status.add(outcome(n, result))

    assert status.complete
    assert status.as_dict() | {"selection": None} == {
        "rescan_id": "rs-1",
        "state": "published",
        "only_changed": True,
        "total": 4,
        "done": 4,
        "match": 1,
        "clear": 1,
        "unchanged": 1,
        "error": 1,
        "complete": True,
        "rate_per_s": None,
        "eta_s": None,
        "selection": None,
    }


def test_never_complete_while_requests_are_still_being_published() -> None:
    status = RescanStatus(manifest(RunState.SELECTING, total=None))
    status.add(outcome(1, Result.CLEAR))
    assert not status.complete and status.eta_s is None


def test_other_rescans_outcomes_are_ignored() -> None:
    status = RescanStatus(manifest())
    status.add(outcome(1, Result.MATCH, rescan_id="rs-2"))
    assert status.done == 0


def test_eta_follows_the_rate_between_the_first_and_latest_outcome() -> None:
    status = RescanStatus(manifest(total=101))
    for n in range(11):
        status.add(outcome(n, Result.CLEAR, at=n))  # one a second

    assert status.rate == pytest.approx(1.0)
    assert status.eta_s == pytest.approx(90.0)
