"""Free pages inside the C heap go back to the system (streams/heap.py), and every hashgate
process does it on a timer; the objects of its start-up are frozen out of later collections."""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from mode.services import ServiceTask

from streams import process
from streams.heap import freeze_startup_objects, return_free_memory
from streams.process import HashgateWorker

pytestmark = pytest.mark.unit

MIB = 1024 * 1024


def anonymous_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon in /proc/self/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_the_free_holes_of_a_fragmented_heap_leave_resident_memory() -> None:
    rng = random.Random(7)
    kept: list[bytes] = []
    freed: list[bytes] = []
    for n in range(60_000):  # blocks past pymalloc's 512 bytes come from the C heap
        (kept if n % 4 == 0 else freed).append(bytes(rng.randint(600, 4_000)))
    freed.clear()  # holes between the kept blocks: not at the heap's top, so malloc keeps them
    before = anonymous_rss()
    assert return_free_memory()
    assert anonymous_rss() < before - 20 * MIB
    assert len(kept) == 15_000


def test_every_hashgate_process_returns_its_free_memory_on_a_timer() -> None:
    """The scan worker and the downstream agents all run as a HashgateWorker."""
    assert isinstance(HashgateWorker.__dict__["_return_free_memory"], ServiceTask)


@pytest.fixture
def unfrozen_afterwards() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as before


@pytest.mark.usefixtures("unfrozen_afterwards")
def test_objects_alive_at_the_freeze_are_left_out_of_later_collections() -> None:
    started = [[] for _ in range(1_000)]  # containers: objects the cyclic collector tracks
    freeze_startup_objects()
    created_later: list[object] = []
    collected_ids = {id(o) for o in gc.get_objects()}
    assert gc.get_freeze_count() >= len(started)
    assert not collected_ids & {id(o) for o in started}
    assert id(created_later) in collected_ids


def test_every_hashgate_process_freezes_its_start_up_once_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen: list[bool] = []
    monkeypatch.setattr(process, "freeze_startup_objects", lambda: frozen.append(True))
    monkeypatch.setattr(process.SignalHooksWorker, "on_startup_finished", _started)
    worker = object.__new__(HashgateWorker)
    asyncio.run(worker.on_startup_finished())
    assert frozen == [True]


async def _started(self: object) -> None:
    """faust's own end of start-up (block detection, the spinner): not this test's concern."""
