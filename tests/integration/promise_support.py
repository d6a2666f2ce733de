"""What the promise tests share: a seeded mix of known and unknown uploads, and the check
that every one got exactly its right verdict."""

from __future__ import annotations

import random
from collections import defaultdict

from hashgate_tools.harness.worker import Outcomes, ScanSetup, upload
from streams.events import UploadEvent, Verdict, VerdictKind


def uploads(
    scan: ScanSetup, count: int, *, known_share: float = 0.05, seed: int = 1, start: int = 0
) -> tuple[list[UploadEvent], set[str]]:
    """``count`` uploads; returns them and the event ids that must match."""
    rng = random.Random(seed)
    images = scan.images.images
    events, known = [], set()
    for n in range(start, start + count):
        is_known = rng.random() < known_share
        name = rng.choice(images.known if is_known else images.unknown)
        events.append(upload(n, scan.images.url(name)))
        if is_known:
            known.add(events[-1].event_id)
    return events, known


def assert_every_event_once_and_right(
    out: Outcomes, events: list[UploadEvent], known: set[str]
) -> None:
    """Every event has a verdict; duplicates (after crashes) agree and share their id."""
    assert out.errors == []
    by_event: dict[str, list[Verdict]] = defaultdict(list)
    for verdict in out.verdicts:
        by_event[verdict.event_id].append(verdict)
    assert set(by_event) == {e.event_id for e in events}
    for event_id, verdicts in by_event.items():
        assert len({v.verdict_id for v in verdicts}) == 1, f"{event_id}: ids differ"
        expected = VerdictKind.MATCH if event_id in known else VerdictKind.CLEAR
        assert {v.verdict for v in verdicts} == {expected}, event_id
