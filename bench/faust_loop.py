"""``python -m bench.faust_loop``: the plain loop of (b) as a faust agent on hashgate's app.

The same batch loop as ``bench/plain_loop.py`` (take up to ``max_in_flight`` uploads, scan them
concurrently, send every verdict, wait for the broker's acks, take the next batch), but its
records come through faust's consumer (hashgate's transport driver, faust's stream and agent),
as the worker's do. It sends through the app's producer, as the worker does, not through
faust's ``Topic.send``, whose message futures, callbacks and sensor calls cost 0.09-0.18 ms a
record (docs/benchmarks.md). Against the plain loop it prices faust's consumer path on its own;
against the worker, everything hashgate adds on top of faust.

``--latest`` adds the least that the only-changed rescans' promise needs (a verdict is never
suppressed against one its consumers did not see): each verdict's latest-verdict record, sent
only once the batch's verdicts are confirmed and confirmed itself before the batch is acked.
Against the faust loop without it, that prices the promise in its cheapest, batched form.
"""

from __future__ import annotations

import asyncio
import sys
from functools import partial

import faust

from bench.baseline_scan import Output, scan_upload
from bench.faust_baseline import BaselineApp, run_worker
from streams.settings import Settings

#: How long a batch may wait to fill; a backlog fills it at once.
TAKE_WITHIN_S = 0.05


def build_app(settings: Settings, *, latest: bool = False) -> faust.App:
    base = BaselineApp.build(settings)
    topics = settings.topics

    @base.uploads_agent("bench.faust-loop")
    async def scan(stream: faust.StreamT[bytes]) -> None:
        in_flight = settings.scan.max_in_flight
        async for values in stream.take(in_flight, within=TAKE_WITHIN_S):
            outputs = await asyncio.gather(*(scan_upload(base.client, settings, v) for v in values))
            await base.confirmed(outputs)
            if latest:
                latest_records = [Output(topics.verdicts_latest, o.key, o.value) for o in outputs]
                await base.confirmed(latest_records)

    return base.app


if __name__ == "__main__":
    run_worker(partial(build_app, latest="--latest" in sys.argv[1:]))
