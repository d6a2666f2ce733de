"""The uploads a scenario feeds in: pre-loaded as a backlog, or published at a steady rate.

Images repeat (a handful of benign samples), so the simulator's hash cache keeps its own cost
per call small and flat; one upload in twenty points at an image of the known database, so both
verdict topics and the match path are exercised.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

from hashgate_tools.harness.images import SampleImages, write_sample_images
from hashgate_tools.harness.worker import upload
from streams.events import UploadEvent
from streams.events.rescan import RescanRequest

KNOWN_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class Upload:
    event_id: str
    key: bytes
    value: bytes


@dataclass(frozen=True)
class ImagePool:
    """Absolute image URLs on the bench's image server, split by expected verdict."""

    known: list[str]
    unknown: list[str]


def write_images(folder: Path) -> SampleImages:
    folder.mkdir(parents=True, exist_ok=True)
    return write_sample_images(folder)


def uploads(count: int, pool: ImagePool, *, first: int = 0, seed: int = 7) -> Iterator[Upload]:
    """``count`` distinct upload events (distinct content ids from number ``first`` on)."""
    rng = random.Random(seed + first)
    for n in range(first, first + count):
        urls = pool.known if rng.random() < KNOWN_SHARE else pool.unknown
        event = upload(n, rng.choice(urls))
        yield Upload(event.event_id, event.key, event.encode())


def rescan_requests(
    count: int, pool: ImagePool, *, first: int = 0, rescan_id: str = "bench-rescan"
) -> Iterator[Upload]:
    """``count`` rescan requests of uploads numbered from ``first``, as ``hashgate rescan``
    publishes them to content.rescans."""
    requested_at = datetime.now(UTC)
    for upload_ in uploads(count, pool, first=first):
        request = RescanRequest(
            rescan_id=rescan_id,
            requested_at=requested_at,
            upload=UploadEvent.decode(upload_.value),
        )
        yield Upload(upload_.event_id, upload_.key, request.encode())


async def preload(bootstrap: str, topic: str, records: Iterable[Upload]) -> int:
    """Write a backlog as fast as Kafka takes it; returns how many records were written."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    count = 0
    try:
        pending: list[asyncio.Future[object]] = []
        for record in records:
            pending.append(await producer.send(topic, key=record.key, value=record.value))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                count += len(pending)
                pending.clear()
        await asyncio.gather(*pending)
        count += len(pending)
    finally:
        await producer.stop()
    return count


async def publish_paced(
    bootstrap: str, topic: str, records: Iterable[Upload], rate: float
) -> dict[str, int]:
    """Publish one record every ``1/rate`` seconds, without lingering; returns each event's
    record timestamp (ms), which is also what Kafka stores for it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    sent_at: dict[str, int] = {}
    try:
        pending: list[asyncio.Future[object]] = []
        start = time.monotonic()
        for n, record in enumerate(records):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            stamp = time.time_ns() // 1_000_000
            sent_at[record.event_id] = stamp
            pending.append(
                await producer.send(topic, key=record.key, value=record.value, timestamp_ms=stamp)
            )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent_at


def only_changed_rescans(
    count: int, pool: ImagePool, *, rescan_id: str = "bench-only-changed"
) -> Iterator[Upload]:
    """``count`` only-changed rescan requests of distinct contents: each is looked up in the
    worker's latest-verdict table and, never seen before, adds one entry to it."""
    requested_at = datetime.now(UTC)
    for record in uploads(count, pool):
        request = RescanRequest(
            rescan_id=rescan_id,
            requested_at=requested_at,
            only_changed=True,
            upload=UploadEvent.decode(record.value),
        )
        yield Upload(record.event_id, record.key, request.encode())
