"""``python -m bench.plain_loop``: baseline (b), the leanest correct loop one could write.

Plain aiokafka: take up to ``max_in_flight`` records, scan them concurrently, produce every
verdict, wait for the broker's acks, commit, repeat. At-least-once, bounded, nothing else: no
per-key order, no retry lane or DLQ, no outage pause. Configured by the worker's own
``HASHGATE_*`` settings, so it talks to the same topics, broker and simulator.

With ``BENCH_PLAIN_LATEST=1`` it also keeps the worker's second promise per event: once a
batch's verdicts are confirmed, each is written to the latest-verdict topic (which only-changed
rescans read) and confirmed before the commit. (b) runs both, to show what that record costs.
"""

from __future__ import annotations

import asyncio
import os
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.baseline_scan import client_for, scan_upload
from streams.kafka.config import aiokafka_options
from streams.settings import Settings, load_settings


async def run(settings: Settings, stop: asyncio.Event, *, latest: bool = False) -> None:
    options = aiokafka_options(settings.kafka)
    consumer = AIOKafkaConsumer(
        settings.topics.uploads,
        group_id=settings.kafka.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **options,
    )
    producer = AIOKafkaProducer(acks="all", **options)
    client = client_for(settings)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500, max_records=settings.scan.max_in_flight)
            values = [r.value or b"" for records in batch.values() for r in records]
            if not values:
                continue
            outputs = await asyncio.gather(*(scan_upload(client, settings, v) for v in values))
            sent = [await producer.send(o.topic, key=o.key, value=o.value) for o in outputs]
            await asyncio.gather(*sent)
            if latest:
                topics = settings.topics
                verdicts = [o for o in outputs if o.topic != topics.scan_errors]
                sent = [
                    await producer.send(topics.verdicts_latest, key=o.key, value=o.value)
                    for o in verdicts
                ]
                await asyncio.gather(*sent)
            await consumer.commit()
    finally:
        await client.aclose()
        await producer.stop()
        await consumer.stop()


async def main() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await run(load_settings(), stop, latest=os.environ.get("BENCH_PLAIN_LATEST") == "1")


if __name__ == "__main__":
    asyncio.run(main())
