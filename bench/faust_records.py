"""``python -m bench.faust_records``: (b)'s faust loop with latest-verdict records, taking the
uploads one at a time instead of in batches.

The worker takes records one at a time because a batch is done only once its slowest image is:
one slow image would hold up every upload taken with it, and under a tail of slow answers a
batched loop keeps a fraction of the throughput (docs/benchmarks.md). These loops price that
shape with nothing else of the worker's: the scan, verdict and latest-verdict record of
``bench/faust_loop.py --latest``, at most ``max_in_flight`` uploads in flight, each acked in
offset order once both of its records are confirmed.

- By default each upload writes its own records, as the worker did before it wrote in rounds:
  a task of its own, at most ``max_in_flight`` of them, acked in offset order (``AckTracker``).
- ``--grouped``: the worker's shape, under hashgate's ``ScanPipeline``: each upload's scan is a
  task of its own; the lane's writer sends the verdicts of every scan finished since its last
  round together, then their latest-verdict records, then acks them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
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
            in_flight = settings.scan.max_in_flight
            pipeline = ScanPipeline(
                partial(_scan, base),
                partial(_write_round, base),
                partial(_write, base),
                max_in_flight=in_flight,
                max_unacked=UNACKED_PER_SLOT * in_flight,
            )
            async for event in manual_acks(stream).events():
                if not await pipeline.submit(source_record(event), event.ack):
                    raise RuntimeError("a scan or write failed") from pipeline.failed

    else:

        @base.uploads_agent("bench.faust-records")
        async def scan_each(stream: faust.StreamT[bytes]) -> None:
            await OneAtATime(base).take_all(stream)

    return base.app


async def _scan(base: BaselineApp, record: SourceRecord) -> Output:
    return await scan_upload(base.client, base.settings, record.value or b"")


async def _write_round(base: BaselineApp, outputs: Sequence[Output]) -> list[bool]:
    """The round's verdicts confirmed, then their latest-verdict records (a failure raises)."""
    await base.confirmed(list(outputs))
    await base.confirmed([_latest(base, output) for output in outputs])
    return [True] * len(outputs)


async def _write(base: BaselineApp, output: Output) -> None:
    """One upload's verdict confirmed, then its latest-verdict record confirmed."""
    await _write_round(base, [output])


class OneAtATime:
    """Each upload scanned and its records written by a task of its own, acked in order."""

    def __init__(self, base: BaselineApp) -> None:
        self._base = base
        self._slots = asyncio.Semaphore(base.settings.scan.max_in_flight)
        self._acks = AckTracker()
        self._tasks: set[asyncio.Task[None]] = set()

    async def take_all(self, stream: faust.StreamT[bytes]) -> None:
        async for event in manual_acks(stream).events():
            await self._slots.acquire()
            record = source_record(event)
            ticket = self._acks.track(record.topic, record.partition, record.offset, event.ack)
            task = asyncio.create_task(self._scan_and_write(record, ticket))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _scan_and_write(self, record: SourceRecord, ticket: Ticket) -> None:
        """A failed scan or write leaves the upload unacked, and every later one of its
        partition: the run stalls rather than skip it."""
        await _write(self._base, await _scan(self._base, record))
        self._acks.finish(record.topic, record.partition, ticket)
        self._slots.release()


def _latest(base: BaselineApp, verdict: Output) -> Output:
    return Output(base.settings.topics.verdicts_latest, verdict.key, verdict.value)


if __name__ == "__main__":
    run_worker(partial(build_app, grouped="--grouped" in sys.argv[1:]))
