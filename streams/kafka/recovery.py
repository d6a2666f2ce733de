"""faust's table recovery, ended once a changelog is read to its end, transaction markers and all.

With exactly-once processing every transaction leaves a commit or abort marker in each
changelog partition it wrote: an offset that takes a place in the partition but that no
consumer ever receives, like the records of an aborted transaction. faust's recovery is done
when the last record it received sits just below the partition's end, so a changelog that ends
in a marker (every one written under transactions) never meets that rule. faust then falls
back on two 5-second waits without a record (``detect_aborted_tx`` in
faust/tables/recovery.py): each restart and each rebalance of the moderation and stats agents
held all their processing for 10 s.

Here a watcher ends the recovery as soon as the consumer's position has passed the end of
every partition still short of it and no record has arrived for ``QUIET_S``: every record
below the end has then been handed to faust, so what it never received are markers and
aborted records. faust's own fallback stays as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from time import monotonic

from aiokafka.errors import IllegalStateError
from faust.tables.recovery import Recovery
from faust.types import TP
from mode import Service

log = logging.getLogger(__name__)

#: How often the watcher looks, during a recovery.
POLL_S = 0.1
#: How long no record may have reached recovery before the gaps count as markers: a record
#: past the consumer's position reaches faust's changelog queue within milliseconds.
QUIET_S = 0.5


def short_of_the_end(
    highwaters: Mapping[TP, int | None], offsets: Mapping[TP, int | None]
) -> dict[TP, int]:
    """Each active changelog partition whose last record read is below its last offset
    (faust's highwater: the end offset minus one), with that last offset."""
    return {
        tp: highwater
        for tp, highwater in highwaters.items()
        if highwater is not None and (read := offsets.get(tp)) is not None and read < highwater
    }


async def all_read_past(
    short: Mapping[TP, int], position: Callable[[TP], Awaitable[int | None]]
) -> bool:
    """Whether the consumer has fetched past the last offset of every partition in ``short``:
    nothing below the end is still to come."""
    for tp, highwater in short.items():
        fetched_to = await position(tp)
        if fetched_to is None or fetched_to <= highwater:
            return False
    return True


class MarkerAwareRecovery(Recovery):
    """faust's recovery, with the watcher of the module docstring."""

    @Service.task
    async def _end_after_markers(self) -> None:
        seen: Mapping[TP, int | None] = {}
        quiet_since = monotonic()
        while not self.should_stop:
            await self.sleep(POLL_S)
            offsets = dict(self.active_offsets)
            if not self._unchanged(offsets, seen):
                seen, quiet_since = offsets, monotonic()
                continue
            short = short_of_the_end(self.active_highwaters, offsets)
            if (
                not short
                or monotonic() - quiet_since < QUIET_S
                or not await all_read_past(short, self._fetched_to)
                or not self._unchanged(offsets, seen)  # a record came while we asked
            ):
                continue
            log.info(
                "changelogs read to their end; what was never received is transaction "
                "markers and aborted records: %s",
                ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(short)),
            )
            for tp, highwater in short.items():  # (Counter.update would add them)
                self.active_offsets[tp] = highwater
            self.flush_buffers()
            self._set_recovery_ended()
            self.signal_recovery_end.set()

    async def _fetched_to(self, tp: TP) -> int | None:
        """The consumer's position in ``tp``; None once a rebalance took it (its next owner,
        or this instance's next recovery, reads it again)."""
        try:
            position: int | None = await self.app.consumer.position(tp)
        except IllegalStateError:
            return None
        return position

    def _unchanged(self, offsets: Mapping[TP, int | None], seen: Mapping[TP, int | None]) -> bool:
        """Still recovering, no record read since ``seen``, none waiting in the queue."""
        return (
            self.in_recovery
            and dict(self.active_offsets) == offsets == seen
            and self.tables.changelog_queue.empty()
        )
