"""The demo's Kafka traffic: uploads in at a steady pace, verdicts and DLQ records out.

The demo plays a platform (it publishes uploads) and the downstream consumers (it reads the
verdict topics and the DLQ), with plain aiokafka clients, as any other service would.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from hashgate_tools.demo.display import Console
from hashgate_tools.demo.services import DemoError
from hashgate_tools.demo.tally import Row, Tally
from hashgate_tools.demo.workload import PlannedRecord
from hashgate_tools.harness.processes import Process
from streams.events import ScanError, Verdict
from streams.settings import TopicSettings

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


class OutcomeReader:
    """Reads the match, clear and DLQ topics from the beginning into the tally."""

    def __init__(self, bootstrap: str, topics: TopicSettings) -> None:
        self._topics = topics
        self._consumer = AIOKafkaConsumer(
            topics.verdicts_match,
            topics.verdicts_clear,
            topics.scan_errors,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def collect(
        self, tally: Tally, console: Console, *, worker: Process, settle_s: float
    ) -> None:
        """Until every planned record has an outcome, or ``settle_s`` after the last was sent."""
        while not tally.finished(time.monotonic(), settle_s):
            if worker.exit_code is not None:
                raise DemoError(
                    f"the worker exited with code {worker.exit_code}:\n{worker.log_tail()}"
                )
            batches = await self._consumer.getmany(timeout_ms=POLL_MS)
            for records in batches.values():
                for record in records:
                    row = self._add(tally, record.topic, record.value or b"", time.monotonic())
                    if row is not None:
                        console.outcome(row)
            console.refresh()

    def _add(self, tally: Tally, topic: str, value: bytes, at: float) -> Row | None:
        if topic == self._topics.scan_errors:
            return tally.add_error(ScanError.decode(value), at)
        return tally.add_verdict(Verdict.decode(value), at)


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
