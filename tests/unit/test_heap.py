"""Free pages inside the C heap go back to the system (streams/heap.py), and every hashgate
process does it on a timer."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from mode.services import ServiceTask

from streams.heap import return_free_memory
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
