"""The downstream agents' state: restart cost against its size, and memory over a long backlog.

Agents run as ``python -m streams <agent>`` with RocksDB tables in a state directory of their
own (HASHGATE_STATE__DIR), on pre-loaded match verdicts. Progress is the agent's committed
offsets: an agent commits a record only after what it caused is confirmed.

- (i) restart: the moderation agent's ``seen`` table gets N entries, it is killed with -9, and
  restarts on the same state directory; "ready again" is the time until it has handled one
  verdict published after the kill. Measured at a small and a 10x larger N: the ratio shows
  whether the restart replays the state (it would grow ~10x) or only the changelog's tail.
  Handling N verdicts would take the agent an hour at 1,000,000, so the bench writes the N
  entries into the table's changelog topic, as the agent itself writes them, and the agent
  restores them into an empty state directory (how long that takes is reported too: it is the
  cost of a lost directory). Verdicts whose ids were seeded must then count as duplicates,
  which proves the entries are in the table.
- (j), (k), (l) memory: RSS of each agent over a long backlog, end over after warm-up.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import GroupCoordinatorNotAvailableError

from bench.observe import rss_flatness
from bench.scenarios import SCENARIOS, Context, Result
from hashgate_tools.harness.downstream import (
    PARTITIONS,
    AgentProcess,
    DownstreamTopics,
    create_downstream_topics,
    match_verdict,
)
from hashgate_tools.harness.host import free_port
from hashgate_tools.harness.kafka import committed_offsets, end_offsets_by_partition
from streams.events import ScanInfo, verdict_id_for
from streams.kafka.partitioner import partition_for

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
#: Verdicts with new ids the agent handles once it has restored the seeded entries.
FRESH_VERDICTS = 5
DUPLICATES = 'hashgate_downstream_records_total{agent="moderation",result="duplicate"}'


def verdict_records(numbers: Iterable[int]) -> Iterator[tuple[bytes, bytes, int | None]]:
    """``match_verdict(n)`` for each n, keyed by content id; the producer picks the partition."""
    template = match_verdict(0, MEDIA_URL)
    for n in numbers:
        verdict = match_verdict(n, MEDIA_URL, scanned_at=template.timings.scanned_at)
        yield verdict.content_id.encode(), verdict.encode(), None


def seen_records(count: int) -> Iterator[tuple[bytes, bytes, int | None]]:
    """The ``seen`` changelog records the agent would have written for ``match_verdict(n)``,
    n < ``count``: faust's JSON of the verdict id and of when, in the partition of the
    verdict's own record (a table write goes to its source record's partition). Built from
    the ids alone, as a million pydantic verdicts would take a minute; the duplicates check in
    ``restart_time`` catches any drift from ``match_verdict``."""
    when = json.dumps(datetime.now(UTC).isoformat()).encode()
    for n in range(count):
        verdict_id = verdict_id_for(f"evt-{n:04d}", ScanInfo())
        content_key = f"content-{n:04d}".encode()
        yield json.dumps(verdict_id).encode(), when, partition_for(content_key, PARTITIONS)


async def produce_all(
    bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes, int | None]]
) -> None:
    """(key, value, partition) records, batched, until Kafka confirms all of them."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        pending = []
        for key, value, partition in records:
            pending.append(await producer.send(topic, key=key, value=value, partition=partition))
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

    def __init__(self, ctx: Context, role: str, *, log_level: str = "WARNING") -> None:
        self.ctx = ctx
        self.role = role
        self.topics = DownstreamTopics()
        self.state_dir = ctx.lab.log_dir / f"state-{self.topics.prefix}"
        self.starts = 0
        policy = ctx.lab.log_dir / "bench-policy.yaml"
        policy.write_text(POLICY)
        self.env = {
            "HASHGATE_KAFKA__BOOTSTRAP_SERVERS": ctx.lab.bootstrap,
            "HASHGATE_LOG_LEVEL": log_level,
            "HASHGATE_STATE__DIR": str(self.state_dir),
            # faust's folder is <group>-<web port> (streams/kafka/app.py): a restart on another
            # port would start on an empty folder, and restore the whole changelog.
            "HASHGATE_WEB__PORT": str(free_port()),
            "HASHGATE_MODERATION__POLICY_FILE": str(policy),
            **REPORTING_ENV,
            **self.topics.env(),
        }

    @property
    def source(self) -> str:
        return self.topics.name("verdicts_match")

    @property
    def seen_changelog(self) -> str:
        """The ``seen`` table's changelog: ``<group>-<table>-changelog`` (streams/downstream)."""
        return f"{self.topics.group(self.role)}-seen-changelog"

    async def create(self) -> None:
        await create_downstream_topics(self.ctx.lab.bootstrap, self.topics)

    async def publish(self, numbers: Iterable[int]) -> None:
        await produce_all(self.ctx.lab.bootstrap, self.source, verdict_records(numbers))

    async def start_once(self) -> None:
        """Run the agent until ready, then stop it: it creates the topics it lacks, its
        changelogs among them, with its own settings. Its state directory, still empty, goes."""
        agent = self.start()
        await agent.wait_ready(within=180)
        agent.stop()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def start(self) -> AgentProcess:
        self.starts += 1
        log = self.ctx.lab.log_dir / f"{self.role}-{self.topics.prefix}-{self.starts}.log"
        return AgentProcess(self.role, self.env, log).start()

    @property
    def by_tenant(self) -> str:
        """The stats agent re-keys each verdict onto this topic, and counts it from there."""
        return f"{self.topics.group(self.role)}-matches-by-tenant"

    async def _committed(self, topic: str) -> dict[int, int]:
        group = self.topics.group(self.role)
        try:
            return await committed_offsets(self.ctx.lab.bootstrap, group, topic)
        except GroupCoordinatorNotAvailableError:  # a fresh broker's offsets topic: none yet
            return {}

    async def consumed(self) -> int:
        """Verdicts the agent has finished with. The stats agent takes two steps per verdict:
        the lesser of re-keyed and counted (counted read off the by-tenant topic's committed
        offsets, which also hold the transactions' markers: a few percent high)."""
        done = sum((await self._committed(self.source)).values())
        if self.role == "stats":
            done = min(done, sum((await self._committed(self.by_tenant)).values()))
        return done

    async def finished(self, total: int) -> bool:
        """All ``total`` verdicts handled; for stats, counted too: each by-tenant partition
        committed up to its closing transaction marker (end offset minus one)."""
        if sum((await self._committed(self.source)).values()) < total:
            return False
        if self.role != "stats":
            return True
        committed = await self._committed(self.by_tenant)
        ends = await end_offsets_by_partition(self.ctx.lab.bootstrap, [self.by_tenant])
        return all(committed.get(tp.partition, 0) >= end - 1 for tp, end in ends.items())

    async def wait_consumed(
        self, agent: AgentProcess, total: int, within: float, on_poll: list[tuple[int, float]]
    ) -> None:
        deadline = time.monotonic() + within
        while not await self.finished(total):
            done = await self.consumed()
            on_poll.append((done, agent.usage().rss_kib / 1024))
            agent.check_running()
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.role} consumed {done} of {total} in {within:.0f}s")
            await asyncio.sleep(0.5)
        on_poll.append((await self.consumed(), agent.usage().rss_kib / 1024))


@dataclass(frozen=True)
class Start:
    """Seconds from a start until the agent had its partitions (/readyz), and until it had
    handled the verdicts waiting for it. A restart after kill -9 waits for the group to drop
    the dead member (its session timeout) before any partition is assigned; what grows with
    the state (opening RocksDB, reading the changelog) comes after the assignment."""

    assigned_s: float
    handled_s: float

    @property
    def after_assignment_s(self) -> float:
        return self.handled_s - self.assigned_s


@dataclass(frozen=True)
class RestartRun:
    entries: int
    #: The start on an empty state directory: it restores every entry from the changelog.
    restore: Start
    #: Each restart on the same directory after kill -9, a verdict published after the kill.
    restarts: list[Start]
    state_mib: float

    def median(self, figure: str) -> float:
        return statistics.median(float(getattr(start, figure)) for start in self.restarts)

    def figures(self) -> dict[str, object]:
        return {
            "entries": self.entries,
            "state_mib": self.state_mib,
            "restore_s": self.restore.handled_s,
            "restore_assigned_s": self.restore.assigned_s,
            "ready_again_s": [start.handled_s for start in self.restarts],
            "assigned_s": [start.assigned_s for start in self.restarts],
        }


async def timed_start(
    bench: AgentBench, total: int, within: float, publish: tuple[int, ...] = ()
) -> tuple[AgentProcess, Start]:
    """Start the agent, publish ``publish``, and time it until its group has committed
    ``total`` records."""
    started = time.monotonic()
    agent = bench.start()
    if publish:
        await bench.publish(publish)
    await agent.wait_ready(within=within)
    assigned = time.monotonic() - started
    await bench.wait_consumed(agent, total, within=within, on_poll=[])
    return agent, Start(assigned, time.monotonic() - started)


async def restart_time(ctx: Context, entries: int) -> RestartRun:
    """The moderation agent with ``entries`` ids in its ``seen`` table, killed and restarted.
    Its logs are at INFO: faust's recovery lists the changelog offsets it reads from."""
    bench = AgentBench(ctx, "moderation", log_level="INFO")
    await bench.create()
    await bench.start_once()
    await produce_all(ctx.lab.bootstrap, bench.seen_changelog, seen_records(entries))
    replayed = [0, entries // 2, entries - 1]  # seeded ids: each must be a duplicate
    await bench.publish([*replayed, *range(entries, entries + FRESH_VERDICTS)])
    total = len(replayed) + FRESH_VERDICTS
    agent, restore = await timed_start(bench, total, within=300 + entries / 1000)
    if (duplicates := await agent.metric(DUPLICATES)) != len(replayed):
        raise AssertionError(f"{duplicates:.0f} of {len(replayed)} seeded ids were duplicates")
    restarts = []
    for n in range(entries + FRESH_VERDICTS, entries + FRESH_VERDICTS + RESTART_ROUNDS):
        agent.kill()  # SIGKILL
        total += 1
        agent, restarted = await timed_start(bench, total, within=300, publish=(n,))
        restarts.append(restarted)
    agent.stop()
    size = dir_mib(bench.state_dir)
    shutil.rmtree(bench.state_dir, ignore_errors=True)
    return RestartRun(entries, restore, restarts, size)


async def restart(ctx: Context) -> Result:
    """(i) restart after kill -9 with 10x the state: ready again in about the same time?"""
    sizes = ctx.sizes
    small = await restart_time(ctx, sizes.restart_small)
    large = await restart_time(ctx, sizes.restart_large)
    ratio = large.median("handled_s") / small.median("handled_s")
    after_assignment = large.median("after_assignment_s") / small.median("after_assignment_s")

    def shown(run: RestartRun) -> str:
        return (
            f"{run.median('handled_s'):.1f} s ({run.median('after_assignment_s'):.1f} s after "
            f"assignment; state {run.state_mib:.0f} MiB; from empty {run.restore.handled_s:.0f} s)"
        )

    return Result(
        "i",
        f"moderation restart after kill -9: {large.entries:,} vs {small.entries:,} ids of state",
        shown(large),
        shown(small),
        ratio,
        "ready-again time, large / small state (median of rounds)",
        "< 1.5",
        ratio < 1.5,
        {
            "small": small.figures(),
            "large": large.figures(),
            "after_assignment_ratio": after_assignment,
        },
    )


async def agent_memory(ctx: Context, role: str, key: str) -> Result:
    count = ctx.sizes.memory_events
    bench = AgentBench(ctx, role)
    await bench.create()
    await bench.publish(range(count))
    agent = bench.start()
    rss: list[tuple[int, float]] = []
    try:
        # stats, the slowest agent, handles ~260 verdicts/s alone here, half that on a busy machine
        await bench.wait_consumed(agent, count, within=300 + count / 100, on_poll=rss)
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
