"""How long the broker may hold a fetch: short only while a fetch leaves out a partition faust
reads, long otherwise.

aiokafka keeps one fetch in flight per broker, and a fetch leaves out the partitions whose
fetched records are still buffered (or that are paused, or whose position is being reset). A
fetch that asks for every partition faust reads ends as soon as any of them has a record,
however long it may wait, so its wait costs no latency. One that leaves such a partition out can
hold that partition's next fetch back for its whole wait: that is the fetch whose wait must be
short (faust's driver hard-codes 1500 ms; a live upload waited up to that long, benchmark (e)).
A short wait for every fetch would cost an empty fetch round trip every few milliseconds while
the worker is idle: 110 CPU ms a second for an idle worker at 10 ms, against 13 at 500 ms
(docs/benchmarks.md), and as much again on the broker.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from faust.types import TP

#: The wait of a fetch that leaves out a partition faust reads (faust's driver: 1500 ms).
SHORT_WAIT_MS = 10
#: The wait of a fetch that asks for every partition faust reads (Kafka's own default).
LONG_WAIT_MS = 500


class FetchWait:
    """Chooses each planned fetch's wait from the partitions faust read in its last poll."""

    def __init__(self, short_ms: int = SHORT_WAIT_MS, long_ms: int = LONG_WAIT_MS) -> None:
        if not 0 <= short_ms <= long_ms:
            raise ValueError("the short wait must be between 0 and the long wait")
        self.short_ms = short_ms
        self.long_ms = long_ms
        self._reading: frozenset[TP] = frozenset()

    def reading(self, partitions: Collection[TP]) -> None:
        """faust polls these partitions now (its active partitions)."""
        self._reading = frozenset(partitions)

    def choose(self, fetchable: Callable[[TP], bool]) -> int:
        """The wait of the fetches planned now; ``fetchable(tp)``: whether they can include tp."""
        if all(fetchable(tp) for tp in self._reading):
            return self.long_ms
        return self.short_ms
