"""``python -m bench.faust_records``: (b)'s faust loop with latest-verdict records, taking the
uploads one at a time instead of in batches.

The worker takes records one at a time because a batch is done only once its slowest image is:
one slow image would hold up every upload taken with it, and under a tail of slow answers a
batched loop keeps a fraction of the throughput (docs/benchmarks.md). These loops price that
shape with nothing else of the worker's: the scan, verdict and latest-verdict record of
``bench/faust_loop.py --latest``, at most ``max_in_flight`` uploads in flight, each acked in
offset order once both of its records are confirmed.

- By default each upload writes its own records, as the worker does: a task of hashgate's
  ``ScanPipeline`` (which also keeps each key's uploads in order).
- ``--grouped``: each upload's scan is a task of its own; one writer sends the verdicts of every
  scan finished since its last round together, then their latest-verdict records, then acks
  them (``AckTracker``: in offset order). The cheapest record-at-a-time form measured.
"""

from __future__ import annotations

import asyncio
import sys
from functools import partial

import faust

from bench.baseline_scan import Output, scan_upload
from bench.faust_baseline import BaselineApp, run_worker
from streams.kafka.record import SourceRecord, manual_acks, source_record
from streams.scan.ack_tracker import AckTracker, Ticket
from streams.scan.pipeline import ScanPipeline
from streams.scan.service import UNACKED_PER_SLOT
from streams.settings import Settings


def build_app(settings: Settings, *, grouped: bool = False) -> faust.App:
    base = BaselineApp.build(settings)
    if grouped:

        @base.uploads_agent("bench.faust-records-grouped")
        async def scan_grouped(stream: faust.StreamT[bytes]) -> None:
            writes = GroupedWrites(base)
            await asyncio.gather(writes.take_all(stream), writes.write_forever())

    else:

        @base.uploads_agent("bench.faust-records")
        async def scan_each(stream: faust.StreamT[bytes]) -> None:
            in_flight = settings.scan.max_in_flight
            pipeline = ScanPipeline(
                partial(_scan_and_write, base),
                max_in_flight=in_flight,
                max_unacked=UNACKED_PER_SLOT * in_flight,
            )
            async for event in manual_acks(stream).events():
                await pipeline.submit(source_record(event), event.ack)

    return base.app


async def _scan_and_write(base: BaselineApp, record: SourceRecord) -> None:
    """One upload's scan, its verdict confirmed, then its latest-verdict record confirmed."""
    output = await scan_upload(base.client, base.settings, record.value or b"")
    await base.confirmed([output])
    await base.confirmed([_latest(base, output)])


class GroupedWrites:
    """Scans run one upload each; their records are written by one writer, a round at a time."""

    def __init__(self, base: BaselineApp) -> None:
        self._base = base
        self._slots = asyncio.Semaphore(base.settings.scan.max_in_flight)
        self._acks = AckTracker()
        self._scanned: list[tuple[SourceRecord, Ticket, Output]] = []
        self._more = asyncio.Event()
        self._failed: BaseException | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def take_all(self, stream: faust.StreamT[bytes]) -> None:
        async for event in manual_acks(stream).events():
            await self._slots.acquire()
            record = source_record(event)
            ticket = self._acks.track(record.topic, record.partition, record.offset, event.ack)
            task = asyncio.create_task(self._scan(record, ticket))
            self._tasks.add(task)
            task.add_done_callback(self._scan_ended)

    async def _scan(self, record: SourceRecord, ticket: Ticket) -> None:
        output = await scan_upload(self._base.client, self._base.settings, record.value or b"")
        self._scanned.append((record, ticket, output))
        self._more.set()

    def _scan_ended(self, task: asyncio.Task[None]) -> None:
        """A failed scan stops the run (the writer raises it): nothing is acked past it."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._failed = task.exception()
            self._more.set()

    async def write_forever(self) -> None:
        """Each round: every scan finished since the last, verdicts first, then their
        latest-verdict records, then the acks and the slots."""
        while True:
            await self._more.wait()
            self._more.clear()
            if self._failed is not None:
                raise self._failed
            round_, self._scanned = self._scanned, []
            outputs = [output for *_, output in round_]
            await self._base.confirmed(outputs)
            await self._base.confirmed([_latest(self._base, output) for output in outputs])
            for record, ticket, _ in round_:
                self._acks.finish(record.topic, record.partition, ticket)
                self._slots.release()


def _latest(base: BaselineApp, verdict: Output) -> Output:
    return Output(base.settings.topics.verdicts_latest, verdict.key, verdict.value)


if __name__ == "__main__":
    run_worker(partial(build_app, grouped="--grouped" in sys.argv[1:]))
