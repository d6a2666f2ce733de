"""The demo's Kafka traffic: uploads in at a steady pace, verdicts and DLQ records out.

The demo plays a platform (it publishes uploads) and the downstream consumers (it reads the
verdict topics and the DLQ), with plain aiokafka clients, as any other service would.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from hashgate_tools.demo.display import Console
from hashgate_tools.demo.services import DemoError
from hashgate_tools.demo.tally import Row, Tally
from hashgate_tools.demo.workload import PlannedRecord
from hashgate_tools.harness.outcomes import OutcomeReader
from hashgate_tools.harness.processes import Process
from streams.events import ScanError, Verdict

#: How often the consumer wakes up even when nothing arrives, to keep the live status fresh.
POLL_MS = 250


async def publish(
    bootstrap: str, topic: str, records: list[PlannedRecord], rate: float, tally: Tally
) -> None:
    """Send ``records`` at ``rate`` per second, each confirmed by the broker."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        start = time.monotonic()
        for n, record in enumerate(records):
            await asyncio.sleep(max(start + n / rate - time.monotonic(), 0))
            sent_at = time.monotonic()
            await producer.send_and_wait(topic, key=record.key, value=record.value)
            tally.published(record, sent_at)
    finally:
        await producer.stop()


async def collect(
    reader: OutcomeReader,
    tally: Tally,
    console: Console,
    *,
    worker: Process,
    settle_s: float,
) -> None:
    """Until every planned record has an outcome, or ``settle_s`` after the last was sent."""
    while not tally.finished(time.monotonic(), settle_s):
        if worker.exit_code is not None:
            raise DemoError(f"the worker exited with code {worker.exit_code}:\n{worker.log_tail()}")
        for outcome in await reader.read(timeout_ms=POLL_MS):
            row = _add(tally, outcome.decoded, time.monotonic())
            if row is not None:
                console.outcome(row)
        console.refresh()


def _add(tally: Tally, decoded: Verdict | ScanError, at: float) -> Row | None:
    if isinstance(decoded, ScanError):
        return tally.add_error(decoded, at)
    return tally.add_verdict(decoded, at)


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Remove the demo's topics, faust's internal ones included, from a lasting cluster."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        ours = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if ours:
            await admin.delete_topics(ours)
    except KafkaError as exc:
        print(f"  could not delete the demo topics: {exc!r}")
    finally:
        await admin.close()
