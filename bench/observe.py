"""Watching a run from outside: output counts by end offsets, timings from record timestamps.

Counting by end offsets costs the orchestrator next to nothing while the worker runs, so the
bench does not take CPU from what it measures; the records themselves are read afterwards.
Kafka's record timestamps are set by each producer when it sends (CreateTime), so "first to
last verdict" spans exactly the processing, not the worker's start-up.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from hashgate_tools.harness.processes import Process, Usage
from streams.closing import AsyncClosing


@dataclass(frozen=True)
class Sample:
    """One look at a running process: outputs so far and its usage at that moment."""

    at: float
    outputs: int
    usage: Usage


@dataclass
class Progress:
    samples: list[Sample] = field(default_factory=list)

    def between(self, low: int, high: int) -> list[Sample]:
        return [s for s in self.samples if low <= s.outputs <= high]

    def cpu_per_output(self) -> float:
        """CPU seconds per output from the first sample that saw output to the last one."""
        started = next(s for s in self.samples if s.outputs > 0)
        last = self.samples[-1]
        return (last.usage.cpu_s - started.usage.cpu_s) / max(last.outputs - started.outputs, 1)


#: The kernel's CPU pressure (PSI, Linux 4.20 and later): how long some runnable task waited.
CPU_PRESSURE = Path("/proc/pressure/cpu")


def cpu_waited_us(pressure: str) -> int:
    """The ``some`` line's ``total`` of /proc/pressure/cpu: microseconds, since boot, in which
    at least one runnable task waited for a core."""
    for line in pressure.splitlines():
        kind, *fields = line.split()
        if kind == "some":
            return int(dict(f.split("=", 1) for f in fields)["total"])
    raise ValueError(f"no 'some' line in CPU pressure {pressure!r}")


class CpuPressure:
    """The share of a stretch's wall time in which some runnable task waited for a core.

    The bench's broker, simulator, image host and worker share this machine's cores: a latency
    figure measured while they queue for a core says more about the host than about the code.
    None where the kernel keeps no pressure figures.
    """

    def __init__(self, path: Path = CPU_PRESSURE) -> None:
        self._path = path
        self._start = self._read()

    def _read(self) -> tuple[float, int] | None:
        try:
            text = self._path.read_text()
        except OSError:
            return None
        return time.monotonic(), cpu_waited_us(text)

    def share(self) -> float | None:
        """Since this was made: waited time over wall time, 0 (never) to 1 (always)."""
        end = self._read()
        if self._start is None or end is None:
            return None
        (started, waited), (ended, waited_by_end) = self._start, end
        return (waited_by_end - waited) / 1e6 / max(ended - started, 1e-9)


class OutputWatch(AsyncClosing):
    """A group-less consumer assigned to every partition of the output topics."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
        )
        self._topics = topics
        self._partitions: list[TopicPartition] = []

    async def __aenter__(self) -> Self:
        await self._consumer.start()
        for topic in self._topics:
            parts = self._consumer.partitions_for_topic(topic)
            if parts is None:
                parts = await self._wait_for_metadata(topic)
            self._partitions += [TopicPartition(topic, p) for p in sorted(parts)]
        self._consumer.assign(self._partitions)
        return self

    async def aclose(self) -> None:
        await self._consumer.stop()

    async def _wait_for_metadata(self, topic: str) -> set[int]:
        async with asyncio.timeout(30):
            while True:
                await self._consumer._client.force_metadata_update()  # no public refresh
                parts = self._consumer.partitions_for_topic(topic)
                if parts:
                    return set(parts)
                await asyncio.sleep(0.2)

    async def ends(self) -> dict[TopicPartition, int]:
        return dict(await self._consumer.end_offsets(self._partitions))

    async def count(self) -> int:
        return sum((await self.ends()).values())

    async def wait_for(
        self,
        expected: int,
        process: Process,
        *,
        within: float,
        poll_s: float = 0.5,
        on_sample: Callable[[Sample], None] | None = None,
    ) -> Progress:
        """Poll until ``expected`` outputs exist, sampling ``process`` each time."""
        progress = Progress()
        deadline = time.monotonic() + within
        while True:
            process.check_running()
            sample = Sample(time.monotonic(), await self.count(), process.usage())
            progress.samples.append(sample)
            if on_sample is not None:
                on_sample(sample)
            if sample.outputs >= expected:
                return progress
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{process.name}: {sample.outputs} of {expected} outputs after {within:.0f}s:"
                    f"\n{process.log_tail()}"
                )
            await asyncio.sleep(poll_s)

    async def span_ms(self) -> tuple[int, int]:
        """Timestamps of the first and the last output record, over all partitions."""
        firsts, lasts = [], []
        for tp, end in (await self.ends()).items():
            if end == 0:
                continue
            firsts.append((await self._read_at(tp, 0)).timestamp)
            lasts.append((await self._read_at(tp, end - 1)).timestamp)
        return min(firsts), max(lasts)

    async def _read_at(self, tp: TopicPartition, offset: int) -> ConsumerRecord[bytes, bytes]:
        self._consumer.seek(tp, offset)
        async with asyncio.timeout(30):
            while True:
                batch = await self._consumer.getmany(tp, timeout_ms=500, max_records=1)
                if batch.get(tp):
                    return batch[tp][0]


async def delivery_delays_ms(bootstrap: str, topic: str, count: int) -> list[float]:
    """How long ``count`` records took from their producer to a bare aiokafka consumer: the
    Kafka hop on this machine right now, the floor under any consumer's latency."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    delays: list[float] = []
    try:
        async with asyncio.timeout(120 + count):
            while len(delays) < count:
                batch = await consumer.getmany(timeout_ms=500)
                now_ms = time.time_ns() / 1_000_000
                delays += [now_ms - r.timestamp for part in batch.values() for r in part]
    finally:
        await consumer.stop()
    return delays


def rss_flatness(rss: list[tuple[int, float]], count: int) -> tuple[float, float, float]:
    """RSS (MiB) after warm-up (median over 10-20% of ``count`` done), at the end (90-100%) and
    its peak after warm-up, from ``(done, MiB)`` samples: the memory scenarios' three figures."""
    warm = _median_rss(rss, count * 0.1, count * 0.2)
    end = _median_rss(rss, count * 0.9, count)
    peak = max(mib for done, mib in rss if done >= count * 0.1)
    return warm, end, peak


def _median_rss(rss: list[tuple[int, float]], low: float, high: float) -> float:
    """Median RSS while ``done`` was between ``low`` and ``high``; the first sample past
    ``low`` if the polls stepped over that window (small runs)."""
    window = [mib for done, mib in rss if low <= done <= high]
    if window:
        return statistics.median(window)
    return next(mib for done, mib in rss if done >= low)
