"""``python -m bench.faust_live``: the least a worker that keeps faust as the consumer and the
only-changed promise must do for one live upload, as a floor for (e)'s latency.

Each upload is scanned as soon as faust hands it over (one task each, no batch to fill), its
verdict sent through the app's producer and confirmed, then its latest-verdict record sent and
confirmed: the order only-changed rescans need (a verdict is never suppressed against one its
consumers did not see). Records come through hashgate's transport driver, faust's stream and
agent, as the worker's do. Nothing else of hashgate's: no per-key order, no ordered acks (faust
acks each record as the agent takes the next), no retry lane, DLQ, gates or metrics. So (e)'s
figures for it are what any worker built this way adds on this host at that moment; the worker's
distance from them is hashgate's own.
"""

from __future__ import annotations

import asyncio

import faust

from bench.baseline_scan import Output, scan_upload
from bench.faust_baseline import BaselineApp, run_worker
from streams.settings import Settings


def build_app(settings: Settings) -> faust.App:
    base = BaselineApp.build(settings)
    topics = settings.topics
    running: set[asyncio.Task[None]] = set()

    async def scan_one(value: bytes) -> None:
        verdict = await scan_upload(base.client, settings, value)
        await base.confirmed([verdict])
        await base.confirmed([Output(topics.verdicts_latest, verdict.key, verdict.value)])

    @base.uploads_agent("bench.faust-live")
    async def scan(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            task = asyncio.create_task(scan_one(value))
            running.add(task)  # a reference until it ends: the loop keeps only weak ones
            task.add_done_callback(running.discard)

    return base.app


if __name__ == "__main__":
    run_worker(build_app)
