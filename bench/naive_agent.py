"""``python -m bench.naive_agent``: baseline (d), the faust agent most users write first.

One agent, one event at a time: decode, await the PhotoDNA call, send the verdict, next. It is
also what the design warns about (faust acks an event even when the agent raised), but here it
stands for speed only: with one call in flight it is bound by latency, not by the quota.
"""

from __future__ import annotations

import faust

from bench.baseline_scan import client_for, scan_upload
from bench.faust_baseline import RawTopics, run_worker
from streams.kafka.app import create_app
from streams.settings import Settings


def build_app(settings: Settings) -> faust.App:
    app = create_app(settings)
    client = client_for(settings)
    topic = RawTopics(app)

    @app.agent(topic(settings.topics.uploads), name="bench.naive")
    async def scan(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            output = await scan_upload(client, settings, value)
            await topic(output.topic).send(key=output.key, value=output.value)

    return app


if __name__ == "__main__":
    run_worker(build_app)
