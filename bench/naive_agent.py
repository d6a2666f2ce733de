"""``python -m bench.naive_agent``: baseline (d), the faust agent most users write first.

One agent, one event at a time: decode, await the PhotoDNA call, send the verdict, next. It is
also what the design warns about (faust acks an event even when the agent raised), but here it
stands for speed only: with one call in flight it is bound by latency, not by the quota.
"""

from __future__ import annotations

import faust

from bench.baseline_scan import scan_upload
from bench.faust_baseline import BaselineApp, run_worker
from streams.settings import Settings


def build_app(settings: Settings) -> faust.App:
    base = BaselineApp.build(settings)

    @base.uploads_agent("bench.naive")
    async def scan(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            output = await scan_upload(base.client, settings, value)
            await base.topic(output.topic).send(key=output.key, value=output.value)

    return base.app


if __name__ == "__main__":
    run_worker(build_app)
