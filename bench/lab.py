"""One bench run's fixtures: the broker, the image host, and a way to run a scanner on a backlog.

A "scanner" is the hashgate worker or one of the baselines: all are started the same way, with
the worker's ``HASHGATE_*`` environment, on topics and a consumer group of their own.
"""

from __future__ import annotations

import shutil
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.observe import OutputWatch, Progress
from bench.workload import ImagePool, Upload, preload, uploads, write_images
from hashgate_tools.harness.host import free_port
from hashgate_tools.harness.outcomes import read_outcomes
from hashgate_tools.harness.processes import (
    ImageServerProcess,
    Process,
    Simulator,
    http_ok,
    python,
    start_image_server,
    start_simulator,
)
from hashgate_tools.harness.worker import (
    ScanTopics,
    create_scan_topics,
    worker_env,
)
from streams.events import Verdict

BENCH_KEY = "bench-key-7c1e0a9d44"
PARTITIONS = 8

WORKER = python("-m", "streams", "worker")
PLAIN_LOOP = python("-m", "bench.plain_loop")
FAUST_LOOP = python("-m", "bench.faust_loop")
#: The faust loop that also writes the latest-verdict records only-changed rescans need.
FAUST_LOOP_LATEST = python("-m", "bench.faust_loop", "--latest")
#: That loop taking uploads one at a time, as the worker must: each writing its own records,
#: and (grouped) in the worker's rounds, all scans finished since the last round written together.
FAUST_RECORDS = python("-m", "bench.faust_records")
FAUST_RECORDS_GROUPED = python("-m", "bench.faust_records", "--grouped")
NAIVE_AGENT = python("-m", "bench.naive_agent")
#: (e)'s floor: each live upload through faust with its verdict and latest-verdict record.
FAUST_LIVE = python("-m", "bench.faust_live")


#: Stops a scanner run under ``profiled``: py-spy writes its report on SIGINT (and ends the
#: scanner); on SIGTERM it exits without one.
PROFILER_STOP = signal.SIGINT


def profiled(argv: list[str], out: Path) -> list[str]:
    """``argv`` run as py-spy's child: stacks sampled while the GIL is held (the worker is
    GIL-bound; waits for it would look like socket writes), 200 a second, written to ``out`` as
    collapsed stacks (``grep``-able; speedscope.app and flamegraph.pl read them)."""
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    options = ["--gil", "--rate", "200", "--format", "raw", "--output", str(out)]
    return [py_spy, "record", *options, "--", *argv]


@dataclass(frozen=True)
class BacklogRun:
    """A scanner worked through a pre-loaded backlog of ``events`` uploads."""

    events: int
    span_s: float  # first to last output record timestamp
    cpu_ms_per_event: float
    progress: Progress
    verdicts: list[Verdict] = field(default_factory=list)  # only if asked for

    @property
    def events_per_s(self) -> float:
        return (self.events - 1) / self.span_s if self.span_s > 0 else float("inf")


@dataclass
class Lab:
    bootstrap: str
    log_dir: Path
    images: ImageServerProcess
    pool: ImagePool

    @property
    def state_dir(self) -> Path:
        """The workers' RocksDB state, removed when the lab closes without an error (a failed
        run keeps it beside the logs): in the shared default folder nothing removed it (1.7 GiB
        after a day of runs)."""
        return self.log_dir / "state"

    def env(self, sim: Simulator, topics: ScanTopics, **extra: str) -> dict[str, str]:
        settings = {
            "HASHGATE_PHOTODNA__KEY_QUOTA_RPS": "1000000",  # "no quota" unless a scenario sets one
            "HASHGATE_STATE__DIR": str(self.state_dir),
            "HASHGATE_SCAN__MAX_IN_FLIGHT": "64",
            "HASHGATE_TOPICS__PARTITIONS": str(PARTITIONS),
            "HASHGATE_WEB__PORT": str(free_port()),
            **extra,
        }
        return worker_env(self.bootstrap, sim.endpoint, BENCH_KEY, topics, **settings)

    async def new_topics(self) -> ScanTopics:
        topics = ScanTopics()
        await create_scan_topics(self.bootstrap, topics, partitions=PARTITIONS)
        return topics

    @asynccontextmanager
    async def simulator(
        self, name: str, *, latency_ms: float, quota_rps: float = 1_000_000
    ) -> AsyncIterator[Simulator]:
        sim = await start_simulator(
            self.log_dir, name, BENCH_KEY, quota_rps=quota_rps, latency_ms=latency_ms
        )
        try:
            yield sim
        finally:
            sim.process.stop()

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        return Process(name, argv, env, self.log_dir).start()

    async def wait_ready(self, process: Process) -> None:
        await self._wait_for_page(process, "/readyz", "ready")

    async def wait_serving(self, process: Process) -> None:
        """For a baseline without hashgate's /readyz: faust's web root answers once it runs."""
        await self._wait_for_page(process, "/", "serving")

    async def _wait_for_page(self, process: Process, path: str, what: str) -> None:
        port = process.env["HASHGATE_WEB__PORT"]
        await process.wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}{path}"), within=120, what=what
        )

    async def wait_latest_records(
        self, topics: ScanTopics, count: int, process: Process, *, poll_s: float = 0.5
    ) -> None:
        """Until ``count`` latest-verdict records are in: a side priced for writing them cannot
        have skipped them unnoticed."""
        async with OutputWatch(self.bootstrap, [topics.name("verdicts_latest")]) as latest:
            await latest.wait_for(count, process, within=60, poll_s=poll_s)

    async def run_backlog(
        self,
        name: str,
        argv: list[str],
        sim: Simulator,
        events: int,
        *,
        expected_eps: float,
        poll_s: float = 0.5,
        keep_verdicts: bool = False,
        records: Iterable[Upload] | None = None,
        before_start: Callable[[dict[str, str]], Awaitable[None]] | None = None,
        extra_env: Mapping[str, str] | None = None,
        stop_by: signal.Signals = signal.SIGTERM,
        latest_records: bool = False,
    ) -> BacklogRun:
        """Pre-load ``events`` uploads (``records``, or the pool's), run ``before_start`` with
        the scanner's environment, start the scanner, wait for every output, stop it.

        ``latest_records``: the scanner writes a latest-verdict record per verdict too; wait for
        those as well, so a side priced for that work cannot have skipped it unnoticed."""
        topics = await self.new_topics()
        backlog = uploads(events, self.pool) if records is None else records
        await preload(self.bootstrap, topics.name("uploads"), backlog)
        env = self.env(sim, topics, **(extra_env or {}))
        if before_start is not None:
            await before_start(env)
        process = self.start(name, argv, env)
        try:
            async with OutputWatch(self.bootstrap, topics.outputs) as watch:
                progress = await watch.wait_for(
                    events, process, within=120 + 3 * events / expected_eps, poll_s=poll_s
                )
                first_ms, last_ms = await watch.span_ms()
                outcomes = []
                if keep_verdicts:
                    async with topics.outcome_reader(self.bootstrap) as reader:
                        outcomes = await read_outcomes(reader, await watch.count())
            if latest_records:
                await self.wait_latest_records(topics, events, process, poll_s=poll_s)
        finally:
            process.stop(by=stop_by)
        return BacklogRun(
            events=events,
            span_s=(last_ms - first_ms) / 1000,
            cpu_ms_per_event=progress.cpu_per_output() * 1000,
            progress=progress,
            verdicts=[o.decoded for o in outcomes if isinstance(o.decoded, Verdict)],
        )


@asynccontextmanager
async def open_lab(bootstrap: str, log_dir: Path) -> AsyncIterator[Lab]:
    samples = write_images(log_dir / "images")
    server = await start_image_server(log_dir, samples.folder, samples.unknown[0])
    try:
        pool = ImagePool(
            known=[server.url(n) for n in samples.known],
            unknown=[server.url(n) for n in samples.unknown],
        )
        lab = Lab(bootstrap, log_dir, server, pool)
        yield lab
    finally:
        server.process.stop()
    if lab.state_dir.exists():  # the scenarios stopped their workers before they returned
        shutil.rmtree(lab.state_dir)
