"""Stream partitions start delivering only after faust's seek to the committed offsets.

After every rebalance faust resumes the stream partitions, seeks them back to their committed
offsets, clears the agents' queues and resumes the flow, in that order (its recovery's
``_resume_streams`` and ``on_recovery_completed``). But the seek is awaited, and with tables
the flow is already running (faust resumed it to read the changelogs), so records fetched from
the old position reach the agents meanwhile; the rest of such a batch keeps arriving after the
seek and moves faust's read offset past the committed one, and the queue clear then drops what
it delivered. The records between the committed offset and that read offset are never delivered
again, and faust never commits past them: a partition whose commit is stuck and whose events
were not handled, until the next restart (seen after a broker restart and after a kill -9 of a
downstream agent: partitions stuck at their first offsets while the others went on).

This consumer keeps stream partitions that faust resumes paused until a seek has completed and
faust resumes the flow (by then the queues are cleared), so everything after the committed
offset is fetched fresh and delivered once. Changelog partitions resume as faust asks: recovery
reads them before any seek. tests/unit/kafka/test_internals.py pins faust's call order.

The seek itself has a gap too: aiokafka's ``seek_to_committed`` moves only partitions whose
committed offset is above 0, and leaves one that was never committed at its fetch position.
That position can be past records this consumer fetched and never delivered: faust's poll
drops a fetched batch of a partition it paused meanwhile (a rebalance pauses every partition)
or of a generation that ended. faust then delivers from that position on and, with no committed
offset to compare with, commits the first run of acked offsets, past the records it skipped
(seen after a broker restart: a partition's first 50 uploads never scanned, its offsets
committed). So a stream partition without a committed offset is sought to its beginning, where
the ``earliest`` reset policy (streams/kafka/app.py) reads a partition the group never committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaFaustConsumer
from faust.types import TP


class SeekFirstConsumer(AIOKafkaFaustConsumer):
    """faust's consumer, resuming stream partitions only once they were sought and the flow
    resumed; see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._held_streams: set[TP] = set()  # resumed by faust, waiting for seek and flow
        self._sought_since_hold = False
        super().__init__(*args, **kwargs)

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        tpset = set(tps)
        streams = {tp for tp in tpset if not self._is_changelog_tp(tp)}
        if streams:
            self._held_streams |= streams
            self._sought_since_hold = False
        super().resume_partitions(tpset - streams)

    def pause_partitions(self, tps: Iterable[TP]) -> None:
        tpset = set(tps)
        self._held_streams -= tpset
        super().pause_partitions(tpset)

    async def perform_seek(self) -> None:
        await super().perform_seek()
        self._sought_since_hold = True

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """faust's seek to the committed offsets, then to the beginning for each stream
        partition without one (see the module docstring); returns the committed offsets."""
        committed = await super().seek_to_committed()
        uncommitted = [
            tp for tp, offset in committed.items() if not offset and not self._is_changelog_tp(tp)
        ]
        if uncommitted:  # offset 0; below the log's start, the ``earliest`` reset takes over
            await self.seek_wait(dict.fromkeys(uncommitted, 0))
        return committed

    def resume_flow(self) -> None:
        super().resume_flow()
        if self._held_streams and self._sought_since_hold:
            held, self._held_streams = self._held_streams & self.assignment(), set()
            super().resume_partitions(held)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._held_streams -= revoked
        await super().on_partitions_revoked(revoked)
