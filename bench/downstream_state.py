"""The downstream agents' state: restart cost against its size, and memory over a long backlog.

Agents run as ``python -m streams <agent>`` with RocksDB tables in a state directory of their
own (HASHGATE_STATE__DIR), on pre-loaded match verdicts. Progress is the agent's committed
offsets: an agent commits a record only after what it caused is confirmed.

- (i) restart: the moderation agent handles N verdicts, is killed with -9, and restarts on the
  same state directory; "ready again" is the time until it has handled one verdict published
  after the kill. Measured at a small and a 10x larger N: the ratio shows whether the restart
  replays the state (it would grow ~10x) or only the changelog's tail.
- (j), (k), (l) memory: RSS of each agent over a long backlog, end over after warm-up.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import GroupCoordinatorNotAvailableError

from bench.observe import rss_flatness
from bench.scenarios import SCENARIOS, Context, Result
from hashgate_tools.harness.downstream import (
    AgentProcess,
    DownstreamTopics,
    create_downstream_topics,
    match_verdict,
)
from hashgate_tools.harness.kafka import committed_offsets

POLICY = """\
version: 1
rules:
  - name: test-hits
    match: {sources: [Test]}
    actions: [quarantine_content]
default:
  actions: [{open_review_case: review}]
"""
#: Enough for the reporting agent to start; with the review gate on it never calls PhotoDNA.
REPORTING_ENV = {
    "HASHGATE_PHOTODNA__SUBSCRIPTION_KEY": "bench-unused-key",
    "HASHGATE_REPORTING__ORG_NAME": "Bench Platform",
    "HASHGATE_REPORTING__REPORTER_NAME": "Bench",
    "HASHGATE_REPORTING__REPORTER_EMAIL": "bench@example.com",
}
MEDIA_URL = "https://images.example.com/bench.jpg"
RESTART_ROUNDS = 3


def verdict_records(start: int, count: int) -> Iterator[tuple[bytes, bytes]]:
    template = match_verdict(0, MEDIA_URL)
    for n in range(start, start + count):
        verdict = match_verdict(n, MEDIA_URL, scanned_at=template.timings.scanned_at)
        yield verdict.content_id.encode(), verdict.encode()


async def preload_verdicts(bootstrap: str, topic: str, start: int, count: int) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        pending = []
        for key, value in verdict_records(start, count):
            pending.append(await producer.send(topic, key=key, value=value))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def dir_mib(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) / 1024


class AgentBench:
    """One agent's topics, state directory and process, restartable on the same state."""

    def __init__(self, ctx: Context, role: str) -> None:
        self.ctx = ctx
        self.role = role
        self.topics = DownstreamTopics()
        self.state_dir = ctx.lab.log_dir / f"state-{self.topics.prefix}"
        self.starts = 0
        policy = ctx.lab.log_dir / "bench-policy.yaml"
        policy.write_text(POLICY)
        self.env = {
            "HASHGATE_KAFKA__BOOTSTRAP_SERVERS": ctx.lab.bootstrap,
            "HASHGATE_LOG_LEVEL": "WARNING",
            "HASHGATE_STATE__DIR": str(self.state_dir),
            "HASHGATE_MODERATION__POLICY_FILE": str(policy),
            **REPORTING_ENV,
            **self.topics.env(),
        }

    @property
    def source(self) -> str:
        return self.topics.name("verdicts_match")

    async def create(self) -> None:
        await create_downstream_topics(self.ctx.lab.bootstrap, self.topics)

    def start(self) -> AgentProcess:
        self.starts += 1
        log = self.ctx.lab.log_dir / f"{self.role}-{self.topics.prefix}-{self.starts}.log"
        return AgentProcess(self.role, self.env, log).start()

    async def consumed(self) -> int:
        group = self.topics.group(self.role)
        try:
            offsets = await committed_offsets(self.ctx.lab.bootstrap, group, self.source)
        except GroupCoordinatorNotAvailableError:  # a fresh broker's offsets topic: none yet
            return 0
        return sum(offsets.values())

    async def wait_consumed(
        self, agent: AgentProcess, total: int, within: float, on_poll: list[tuple[int, float]]
    ) -> None:
        deadline = time.monotonic() + within
        while (done := await self.consumed()) < total:
            on_poll.append((done, agent.usage().rss_kib / 1024))
            agent.check_running()
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.role} consumed {done} of {total} in {within:.0f}s")
            await asyncio.sleep(0.5)
        on_poll.append((done, agent.usage().rss_kib / 1024))


async def restart_time(ctx: Context, entries: int) -> tuple[list[float], float]:
    """Seconds from a restart after kill -9 to the first new verdict handled, per round; and
    the state directory's size."""
    bench = AgentBench(ctx, "moderation")
    await bench.create()
    await preload_verdicts(ctx.lab.bootstrap, bench.source, 0, entries)
    agent = bench.start()
    await bench.wait_consumed(agent, entries, within=120 + entries / 500, on_poll=[])
    times = []
    total = entries
    for _ in range(RESTART_ROUNDS):
        agent.kill()  # SIGKILL
        started = time.monotonic()
        agent = bench.start()
        await preload_verdicts(ctx.lab.bootstrap, bench.source, total, 1)
        total += 1
        await bench.wait_consumed(agent, total, within=300, on_poll=[])
        times.append(time.monotonic() - started)
    agent.stop()
    size = dir_mib(bench.state_dir)
    shutil.rmtree(bench.state_dir, ignore_errors=True)
    return times, size


async def restart(ctx: Context) -> Result:
    """(i) restart after kill -9 with 10x the state: ready again in about the same time?"""
    sizes = ctx.sizes
    small, small_mib = await restart_time(ctx, sizes.restart_small)
    large, large_mib = await restart_time(ctx, sizes.restart_large)
    ratio = statistics.median(large) / statistics.median(small)
    return Result(
        "i",
        f"moderation restart after kill -9: {sizes.restart_large:,} vs "
        f"{sizes.restart_small:,} verdicts of state",
        f"{statistics.median(large):.1f} s (state {large_mib:.0f} MiB)",
        f"{statistics.median(small):.1f} s (state {small_mib:.0f} MiB)",
        ratio,
        "ready-again time, large / small state (median of rounds)",
        "< 1.5",
        ratio < 1.5,
        {
            "small_entries": sizes.restart_small,
            "large_entries": sizes.restart_large,
            "small_s": small,
            "large_s": large,
            "small_state_mib": small_mib,
            "large_state_mib": large_mib,
        },
    )


async def agent_memory(ctx: Context, role: str, key: str) -> Result:
    count = ctx.sizes.memory_events
    bench = AgentBench(ctx, role)
    await bench.create()
    await preload_verdicts(ctx.lab.bootstrap, bench.source, 0, count)
    agent = bench.start()
    rss: list[tuple[int, float]] = []
    try:
        await bench.wait_consumed(agent, count, within=300 + count / 300, on_poll=rss)
    finally:
        agent.stop()
    size = dir_mib(bench.state_dir)
    shutil.rmtree(bench.state_dir, ignore_errors=True)
    warm, end, peak = rss_flatness(rss, count)
    return Result(
        key,
        f"{role} agent memory: RSS over {count:,} match verdicts",
        f"{end:.0f} MiB at the end (peak {peak:.0f})",
        f"{warm:.0f} MiB after warm-up (10-20%)",
        end / warm,
        "end RSS / warm RSS",
        "< 1.10",
        end / warm < 1.10,
        {
            "verdicts": count,
            "rss_warm_mib": warm,
            "rss_end_mib": end,
            "rss_peak_mib": peak,
            "state_dir_mib": size,
            "rss_curve_mib": rss[:: max(len(rss) // 40, 1)],
        },
    )


async def moderation_memory(ctx: Context) -> Result:
    return await agent_memory(ctx, "moderation", "j")


async def stats_memory(ctx: Context) -> Result:
    return await agent_memory(ctx, "stats", "k")


async def reporting_memory(ctx: Context) -> Result:
    return await agent_memory(ctx, "reporting", "l")


def register_state_scenarios() -> None:
    """Adds (i)-(l) to the bench's scenarios, after the scan worker's."""
    SCENARIOS.update(
        {"i": restart, "j": moderation_memory, "k": stats_memory, "l": reporting_memory}
    )
