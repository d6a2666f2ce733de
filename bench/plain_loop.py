"""``python -m bench.plain_loop``: baseline (b), the leanest correct loop one could write.

Plain aiokafka: take up to ``max_in_flight`` records, scan them concurrently, produce every
verdict, wait for the broker's acks, commit, repeat. At-least-once, bounded, nothing else: no
per-key order, no retry lane or DLQ, no outage pause. Configured by the worker's own
``HASHGATE_*`` settings, so it talks to the same topics, broker and simulator.
"""

from __future__ import annotations

import asyncio
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.baseline_scan import client_for, scan_upload
from streams.kafka.config import aiokafka_options
from streams.settings import Settings, load_settings


async def run(settings: Settings, stop: asyncio.Event) -> None:
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
            await consumer.commit()
    finally:
        await client.aclose()
        await producer.stop()
        await consumer.stop()


async def main() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await run(load_settings(), stop)


if __name__ == "__main__":
    asyncio.run(main())
