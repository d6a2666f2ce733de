"""``python -m bench.faust_loop``: the plain loop of (b) as a faust agent on hashgate's app.

The same batch loop as ``bench/plain_loop.py`` (take up to ``max_in_flight`` uploads, scan them
concurrently, send every verdict, wait for the broker's acks, take the next batch), but its
records come through faust's consumer (hashgate's transport driver, faust's stream and agent),
as the worker's do. Against the plain loop it prices faust's consumer path on its own; against
the worker, everything hashgate adds on top of faust.
"""

from __future__ import annotations

import asyncio

import faust

from bench.baseline_scan import scan_upload
from bench.faust_baseline import BaselineApp, run_worker
from streams.settings import Settings

#: How long a batch may wait to fill; a backlog fills it at once.
TAKE_WITHIN_S = 0.05


def build_app(settings: Settings) -> faust.App:
    base = BaselineApp.build(settings)

    @base.uploads_agent("bench.faust-loop")
    async def scan(stream: faust.StreamT[bytes]) -> None:
        in_flight = settings.scan.max_in_flight
        async for values in stream.take(in_flight, within=TAKE_WITHIN_S):
            outputs = await asyncio.gather(*(scan_upload(base.client, settings, v) for v in values))
            sent = [await base.topic(o.topic).send(key=o.key, value=o.value) for o in outputs]
            await asyncio.gather(*sent)

    return base.app


if __name__ == "__main__":
    run_worker(build_app)
